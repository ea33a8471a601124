"""Shared fixtures for the OCR tests: text rendered with PyMuPDF, cropped like a cell."""

from __future__ import annotations

import functools

import numpy as np
import pymupdf
import pytest


@functools.lru_cache(maxsize=256)
def _render(text: str, fontname: str, fontsize: float, dpi: int, margin: int) -> np.ndarray:
    doc = pymupdf.open()
    page = doc.new_page(width=40 + fontsize * (len(text) + 2), height=3 * fontsize + 20)
    page.insert_text((20, 10 + 2 * fontsize), text, fontname=fontname, fontsize=fontsize)
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    img = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    doc.close()
    ys, xs = np.nonzero(img < 160)
    if len(ys) == 0:
        raise ValueError(f"nothing rendered for {text!r}")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # Pad to at least a line's height so one-glyph crops ("—", "0") look like a cell.
    line_h = int(round(fontsize * dpi / 72 * 0.8))
    if y1 - y0 < line_h:
        extra = line_h - (y1 - y0)
        y0 = max(0, y0 - extra // 2)
        y1 = min(img.shape[0], y1 + extra - extra // 2)
    y0, x0 = max(0, y0 - margin), max(0, x0 - margin)
    crop = img[y0 : y1 + margin, x0 : x1 + margin].copy()
    crop.setflags(write=False)
    return crop


def render_line(
    text: str,
    fontname: str = "china-s",
    fontsize: float = 10.5,
    dpi: int = 200,
    margin: int = 4,
) -> np.ndarray:
    """A tightly cropped grayscale uint8 image of ``text`` on one line."""
    return _render(text, fontname, fontsize, dpi, margin).copy()


@pytest.fixture(scope="session")
def render():
    return render_line


@pytest.fixture(scope="session")
def engine():
    from tallyscan.ocr import get_engine

    return get_engine("rapidocr", threads=1)
