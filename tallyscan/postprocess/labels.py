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
    """Length of the longest common subsequence (labels are short: O(len²) is fine)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


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
