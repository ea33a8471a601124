"""Number parsing against golden cases taken from the forms real reports print."""

import csv
from pathlib import Path

import pytest

from tallyscan.postprocess.numbers import ParsedNumber, parse_number

GOLDEN = Path(__file__).parent / "golden" / "numbers.csv"


def _cases():
    with GOLDEN.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            value = None if row["value"] == "" else (float(row["value"]) if "." in row["value"] else int(row["value"]))
            yield row["text"], row["decimal"] == "1", value, row["kind"]


@pytest.mark.parametrize(("text", "decimal", "value", "kind"), list(_cases()))
def test_parse_number_golden(text, decimal, value, kind):
    parsed = parse_number(text, decimal=decimal)
    assert parsed.value == value
    assert parsed.kind == kind


def test_thousands_separator_only_between_groups_of_three():
    # "1,23" is not a thousands separator: the leading number is kept, as
    # "split" (digits on both sides of a mark), which is never trusted alone.
    assert parse_number("1,23") == ParsedNumber(1, "split")


def test_digits_on_both_sides_of_a_mark_are_no_number_with_a_note():
    """Held-out syn15016: 12.34 万元 read "12:34" at 0.95 was taken as a sure 12."""
    assert parse_number("12:34", decimal=True) == ParsedNumber(12.34, "split")
    assert parse_number("12:34") == ParsedNumber(12, "split")
    assert parse_number("22（其中修订16件）") == ParsedNumber(22, "number")  # a note
    assert parse_number("486690元") == ParsedNumber(486690, "number")


def test_a_dot_before_a_signed_change_is_a_shrunk_minus_sign():
    # 本年增/减 on a fax: the minus shrank to a dot (syn06020, syn06027, syn06039).
    assert parse_number(".3", signed=True) == ParsedNumber(-3, "shrunk-sign")
    assert parse_number("·12", signed=True) == ParsedNumber(-12, "shrunk-sign")
    # A minus the layout saw in front of the crop (Reading.sign_mark) counts in signed columns only.
    assert parse_number("3", signed=True, minus_seen=True) == ParsedNumber(-3, "sign-mark")
    assert parse_number("3", minus_seen=True) == ParsedNumber(3, "number")
    assert parse_number("0", signed=True, minus_seen=True) == ParsedNumber(0, "zero-mark")
    # Only in a signed column, and only before digits.
    assert parse_number(".3").value == 3
    assert parse_number("-3", signed=True) == ParsedNumber(-3, "number")
    assert parse_number("3", signed=True) == ParsedNumber(3, "number")
