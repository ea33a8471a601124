"""Shared fixtures: small documents made on the fly, and fake pipeline stages.

The fake stages let pipeline/CLI tests produce a successful document without
depending on the real layout, OCR and snapping code: a page whose text (or, for
scans, whose image) says "REPORT" yields two canonical cells; anything else makes
the fake snapper raise NoTableFound, as the real one does.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest
from hostile_files import zip_bytes

from tallyscan.exceptions import NoTableFound
from tallyscan.model import CanonicalCell, PageLayout, TextLine

# --------------------------------------------------------------------------- #
# Documents


def pdf_bytes(text: str = "REPORT 2021", pages: int = 1, size: tuple[float, float] = (595, 842)) -> bytes:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=size[0], height=size[1])
        page.insert_text((72, 72), f"{text} page {i + 1}", fontsize=12)
        page.draw_rect(pymupdf.Rect(72, 100, 300, 200), color=(0, 0, 0), width=1)
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


def png_bytes(w: int = 120, h: int = 80, color: bool = False, dark_square: bool = True) -> bytes:
    img = np.full((h, w, 3) if color else (h, w), 255, np.uint8)
    if dark_square:
        img[h // 4: h // 2, w // 4: w // 2] = 0
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def mk():
    """Builders for test inputs: mk.pdf(), mk.png(), mk.zip({...}), mk.write(path, data)."""
    return types.SimpleNamespace(pdf=pdf_bytes, png=png_bytes, zip=zip_bytes, write=write)


# --------------------------------------------------------------------------- #
# Fake stages


class FakeStages:
    """Stand-ins for textlayer / scan / ocr / snap; records what they were given."""

    def __init__(self) -> None:
        self.scan_images: list[tuple[tuple[int, ...], float]] = []
        self.released: list[int] = []  # pages whose OCR state was handed back
        self.text_pages: list[int] = []

    # textlayer
    def has_text_layer(self, page) -> bool:
        return bool(page.get_text().strip())

    def read_page(self, page, index: int) -> PageLayout:
        self.text_pages.append(index)
        r = page.rect
        lines = [TextLine(text=page.get_text().strip(), bbox=(72.0, 60.0, 300.0, 80.0))]
        return PageLayout(page=index, width=r.width, height=r.height, source="text-layer", lines=lines, tables=[])

    # scan
    def analyse_page(self, image, *, dpi: float, index: int, sideways=None) -> PageLayout:
        self.scan_images.append((tuple(image.shape), dpi))
        h, w = image.shape[:2]
        return PageLayout(page=index, width=w * 72 / dpi, height=h * 72 / dpi, source="scan", lines=[], tables=[])

    def recognise_cells(self, layout, image=None, *, dpi=None, engine, digit_ratio=None) -> float | None:
        assert engine == "fake-engine"
        return digit_ratio

    def release(self, layout) -> None:
        self.released.append(layout.page)

    # ocr
    def get_engine(self, name: str = "rapidocr", threads: int = 1):
        return "fake-engine"

    # snap
    def snap_document(self, pages: list[PageLayout]):
        if not any("REPORT" in ln.text for p in pages for ln in p.lines):
            raise NoTableFound("no report table was recognised; is this an annual report?")
        cells = [
            CanonicalCell(section="三", row_path="一、本年新收政府信息公开申请数量", col_path="总计",
                          value=12, raw_text="12", confidence=0.99876, status="ok", page=0,
                          bbox=(100.04, 200.0, 150.55, 215.0), template="2021"),
            CanonicalCell(section="二", row_path="第二十条第（八）项/行政事业性收费", col_path="本年收费金额（单位：万元）",
                          value=1.25e-05, raw_text="0.0000125", confidence=0.5, status="low_confidence",
                          page=1, bbox=None, template="2021"),
        ]
        return types.SimpleNamespace(cells=cells, templates={"三": "2021", "二": "2021"},
                                     agency="某某市统计局", year=2023)


@pytest.fixture
def fake_stages(monkeypatch):
    fake = FakeStages()
    mods = {
        "tallyscan.layout.textlayer": ("has_text_layer", "read_page"),
        "tallyscan.layout.scan": ("analyse_page", "recognise_cells", "release"),
        "tallyscan.ocr": ("get_engine",),
        "tallyscan.postprocess.snap": ("snap_document",),
    }
    for mod_name, attrs in mods.items():
        mod = types.ModuleType(mod_name)
        for a in attrs:
            setattr(mod, a, getattr(fake, a))
        monkeypatch.setitem(sys.modules, mod_name, mod)
    return fake


# --------------------------------------------------------------------------- #
# The store (issue 4)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Every test gets its own SQLite store and blob folder: `tallyscan extract` saves its
    results there, and no test touches ~/.local/share/tallyscan or another test's data."""
    data = tmp_path_factory.mktemp("tallyscan-data")
    monkeypatch.setenv("TALLYSCAN_DATA_DIR", str(data))
    for var in ("TALLYSCAN_DATABASE_URL", "TALLYSCAN_STORE_DIR", "TALLYSCAN_BLOB_STORE"):
        monkeypatch.delenv(var, raising=False)
    return data


@pytest.fixture
def pg_url():
    """A throw-away PostgreSQL database (dropped afterwards) on the server CI starts.

    The server is TALLYSCAN_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres).
    """
    import os
    import uuid

    import psycopg

    admin = os.environ.get("TALLYSCAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"tallyscan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from tallyscan import store as store_module

    for key, st in list(store_module._stores.items()):
        if key[0].endswith("/" + name):
            st.engine.dispose()
            del store_module._stores[key]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
