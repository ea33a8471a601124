"""Fuzzy matching of printed (or partly misread) labels to the official ones."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_PUNCT = str.maketrans({"、": ".", "．": ".", "，": ",", "：": ":", "“": '"', "”": '"', "（": "(", "）": ")"})


@lru_cache(maxsize=4096)
def norm_label(text: str) -> str:
    """Compare-ready label: NFKC, one form of numbering punctuation, no spaces."""
    t = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    t = re.sub(r"\s+", "", t)
    # "1、" and "1." are the same numbering; "(一)" the same with either brackets.
    t = re.sub(r"^(\d)[.,:]", r"\1.", t)
    return t


def lcs(a: str, b: str) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004).

    One big-int step per character of ``b`` instead of a row of the O(len²)
    table: the snapper compares every label with every official name, so
    this runs tens of thousands of times per document.
    """
    if not a or not b:
        return 0
    positions: dict[str, int] = {}  # character -> bit mask of where it is in a
    bit = 1
    for ch in a:
        positions[ch] = positions.get(ch, 0) | bit
        bit <<= 1
    mask = bit - 1
    v = mask  # zero bits: positions of a matched so far
    for ch in b:
        u = v & positions.get(ch, 0)
        v = ((v + u) | (v - u)) & mask
    return len(a) - v.bit_count()


@lru_cache(maxsize=65536)
def label_similarity(observed: str, canonical: str) -> float:
    """0..1: how well a printed label matches an official one.

    Scanned labels are read only by their first few characters, so a match of
    the observed text against the same-length prefix of the official label
    counts as well as a whole-label match.
    """
    o, c = norm_label(observed), norm_label(canonical)
    if not o or not c:
        return 0.0
    whole = lcs(o, c) / max(len(o), len(c))
    if len(o) >= 3 and len(o) < len(c):
        prefix = c[: len(o) + 1]
        whole = max(whole, lcs(o, prefix) / max(len(o), len(prefix) - 1) * 0.95)
    return min(whole, 1.0)
