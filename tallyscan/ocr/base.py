"""The one interface every OCR engine implements, plus helpers they share.

An engine turns crops -- each a grayscale or BGR ``uint8`` image of ONE text line
(a table cell's content, tightly cropped by the caller with a small margin) -- into
:class:`~tallyscan.model.Reading` objects, one per crop, in order.

``numeric=True`` tells the engine that the cell is expected to hold a number
(digits, separators, a dash for "none", possibly 元/万/无); engines then bias their
decoding towards that alphabet and map look-alike characters to canonical forms,
but keep a free-text reading when the cell plainly holds a note such as
``22（其中修订16件）``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from tallyscan.model import Reading

# Characters a numeric cell may legitimately contain (besides the CTC blank).
NUMERIC_CHARS = "0123456789.,-—－/"
NUMERIC_UNITS = "元万无"
NUMERIC_ALPHABET = NUMERIC_CHARS + NUMERIC_UNITS

# Look-alikes that are folded onto a numeric character in numeric mode.
_FULLWIDTH_DIGITS = {chr(0xFF10 + i): str(i) for i in range(10)}
NUMERIC_LOOKALIKES: dict[str, str] = {
    **_FULLWIDTH_DIGITS,
    "O": "0",
    "o": "0",
    "〇": "0",
    "l": "1",
    "I": "1",
    "|": "1",
    "．": ".",
    "，": ",",
    "一": "—",  # a lone CJK "one" in a number cell is a dash
}
# Latin look-alikes are only mapped next to a digit when a free-text reading is kept.
_LATIN_LOOKALIKES = {"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"}


@runtime_checkable
class OcrEngine(Protocol):
    """A text-line recogniser."""

    name: str

    def recognize(self, crops: list[np.ndarray], numeric: bool = False) -> list[Reading]:
        """Read each single-line crop; returns one Reading per crop, in order."""
        ...


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs (unified, extension A, compatibility)."""
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF


def has_foreign_cjk(text: str) -> bool:
    """Whether ``text`` holds CJK characters a numeric cell would not (not 元 万 无 一)."""
    return any(is_cjk(ch) and ch not in "元万无一" for ch in text)


def normalize_numeric_text(text: str) -> str:
    """Map visually identical forms in a numeric-mode reading to canonical ones.

    Full-width digits and separators become ASCII; ``一`` alone (a CJK "one" that is
    really a dash) becomes ``—``; ``O o l I |`` become ``0``/``1`` when they touch a
    digit (or make up the whole reading).
    """
    if not text:
        return text
    if text == "一":
        return "—"
    chars = [_FULLWIDTH_DIGITS.get(ch, ch) for ch in text]
    chars = ["." if ch == "．" else "," if ch == "，" else ch for ch in chars]
    n = len(chars)
    out = list(chars)
    for i, ch in enumerate(chars):
        if ch in _LATIN_LOOKALIKES:
            left = i > 0 and chars[i - 1].isdigit()
            right = i + 1 < n and chars[i + 1].isdigit()
            if left or right or n == 1:
                out[i] = _LATIN_LOOKALIKES[ch]
    return "".join(out)


def to_gray(crop: np.ndarray) -> np.ndarray:
    """A 2-D uint8 view of a gray, BGR or BGRA crop."""
    if crop.ndim == 2:
        return crop
    if crop.shape[2] == 1:
        return crop[:, :, 0]
    if crop.shape[2] == 4:
        return cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)


def to_bgr(crop: np.ndarray) -> np.ndarray:
    """A 3-channel BGR uint8 image from a gray, BGR or BGRA crop."""
    if crop.ndim == 2:
        return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    if crop.shape[2] == 1:
        return cv2.cvtColor(crop[:, :, 0], cv2.COLOR_GRAY2BGR)
    if crop.shape[2] == 4:
        return cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
    return crop


def is_blank(crop: np.ndarray, min_contrast: int = 48, min_ink_pixels: int = 4) -> bool:
    """True when a crop has no ink worth reading (empty, flat, or a few specks).

    Ink is whatever is darker than the midpoint between the background (the
    90th percentile, so dense bold text still counts) and the darkest pixel, provided that contrast is at least
    ``min_contrast`` grey levels; fewer than ``min_ink_pixels`` such pixels is blank.
    """
    if crop is None or crop.size == 0 or crop.shape[0] < 2 or crop.shape[1] < 2:
        return True
    gray = to_gray(crop)
    lo = int(gray.min())
    sample = gray if gray.size <= 4096 else gray[::2, ::2]
    bg = int(np.percentile(sample, 90))
    if bg - lo < min_contrast:
        return True
    return int(np.count_nonzero(gray < (bg + lo) // 2)) < min_ink_pixels
