"""Number parsing against golden cases taken from the forms real reports print."""

import csv
from pathlib import Path

import pytest

from tallyscan.postprocess.numbers import parse_number

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
    # "1,23" is not a thousands separator: keep the leading number only.
    assert parse_number("1,23").value == 1
