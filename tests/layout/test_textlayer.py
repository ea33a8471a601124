"""Born-digital path on the devset's digital reports (doc003: 2019, doc011: 2021).

Regenerate the golden file with ``TALLYSCAN_UPDATE_GOLDEN=1 pytest tests/layout``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pymupdf
import pytest

from tallyscan.layout.textlayer import has_text_layer, read_page
from tallyscan.model import PageLayout, Table

DEVSET = Path(__file__).resolve().parents[2].parent / "shared" / "devset"
GOLDEN = Path(__file__).resolve().parent / "golden" / "doc011_page_tables.json"

APPLICANT_COLS = [
    "自然人",
    "法人或其他组织/商业企业",
    "法人或其他组织/科研机构",
    "法人或其他组织/社会公益组织",
    "法人或其他组织/法律服务机构",
    "法人或其他组织/其他",
    "总计",
]
REVIEW_COLS = [
    f"{group}/{col}"
    for group in ("行政复议", "行政诉讼/未经复议直接起诉", "行政诉讼/复议后起诉")
    for col in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
]
ZERO_MARKS = {"", "—", "-", "/", "无"}

pytestmark = pytest.mark.skipif(not DEVSET.is_dir(), reason="devset not available")


def _pdf(name: str) -> pymupdf.Document:
    return pymupdf.open(DEVSET / f"{name}.pdf")


def _truth(name: str) -> dict[str, int | float]:
    return json.loads((DEVSET / f"{name}.truth.json").read_text(encoding="utf-8"))["cells"]


def _layouts(name: str) -> list[PageLayout]:
    doc = _pdf(name)
    return [read_page(page, i) for i, page in enumerate(doc)]


def _value(text: str) -> int | float:
    text = text.strip()
    if text in ZERO_MARKS:
        return 0
    return float(text) if "." in text else int(text)


def _is_value(text: str) -> bool:
    try:
        _value(text)
    except ValueError:
        return False
    return True


def _value_rows(table: Table, n_values: int) -> list[tuple[str, list[str]]]:
    """Rows whose last n_values cells are single numbers: (label, values)."""
    out = []
    for row in table.rows():
        vals = [c for c in row if c.col >= table.n_cols - n_values]
        if len(vals) != n_values or any(c.col_span != 1 for c in vals):
            continue
        if not all(c.text and _is_value(c.text) for c in vals):
            continue
        labels = [c for c in row if c.col + c.col_span == table.n_cols - n_values]
        out.append((labels[0].text if labels else "", [c.text for c in vals]))
    return out


def _section3_tables(layouts: list[PageLayout]) -> list[Table]:
    """The section 三 table, possibly split over pages: the tables with 7
    value columns that are not the section 四 table (15 columns)."""
    return [t for lay in layouts for t in lay.tables if t.n_cols in (9, 10) and _value_rows(t, 7)]


# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["doc003", "doc011"])
def test_has_text_layer_on_digital_reports(name):
    assert all(has_text_layer(p) for p in _pdf(name))


def test_no_text_layer_on_scans_and_invisible_text():
    scan = _pdf("doc000")  # a simulated scan: one page image, no text
    assert not has_text_layer(scan[0])

    doc = pymupdf.open()
    page = doc.new_page()
    assert not has_text_layer(page)  # blank
    # an invisible OCR layer (render mode 3) over nothing: not usable
    page.insert_text((72, 100), "2021 annual report 0 0 0 1 2 3 4 5", render_mode=3)
    assert not has_text_layer(page)
    # visible Latin garbage (a broken encoding): not usable
    page = doc.new_page()
    page.insert_text((72, 100), "Ã¥Â¹Â´Ã¦Â\u0152Â¥Ã¥\u2018Å  garbage text layer")
    assert not has_text_layer(page)


def test_text_under_an_opaque_page_image_is_not_usable():
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 60), False)
    pix.clear_with(230)
    for overlay, usable in ((True, False), (False, True)):
        doc = pymupdf.open()
        page = doc.new_page()
        page.insert_text((72, 100), "本年新收政府信息公开申请数量 16 0 0 1 17", fontname="china-s")
        page.insert_image(page.rect, pixmap=pix, overlay=overlay)
        assert has_text_layer(page) is usable


def test_synthetic_tables_from_rectangles():
    """Cells drawn as stroked boxes; borders drawn as thin filled rectangles
    with a shaded (filled) header cell; a text-layer line running across a
    cell boundary is split between the cells."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text(
        (72, 60), "三、收到和处理政府信息公开申请情况", fontname="china-s", fontsize=12
    )
    # table A: 2 rows x 3 cols of stroked cell boxes (shared edges drawn twice)
    for r in range(2):
        for c in range(3):
            page.draw_rect(pymupdf.Rect(72 + 100 * c, 80 + 20 * r, 172 + 100 * c, 100 + 20 * r))
    page.insert_text((76, 95), "予以公开", fontname="china-s", fontsize=10)
    page.insert_text((176, 95), "12", fontsize=10)
    page.insert_text((276, 95), "34", fontsize=10)
    page.insert_text((160, 115), "5678", fontsize=10)  # "56" in col 0, "78" in col 1
    # table B: a shaded header row, borders as 0.8 pt filled bars
    page.draw_rect(pymupdf.Rect(72, 200, 372, 220), color=None, fill=(0.85, 0.85, 0.85))
    for y in (200, 220, 240, 260):
        page.draw_rect(pymupdf.Rect(72, y - 0.4, 372, y + 0.4), color=None, fill=(0, 0, 0))
    for x in (72, 222, 372):
        page.draw_rect(pymupdf.Rect(x - 0.4, 200, x + 0.4, 260), color=None, fill=(0, 0, 0))
    page.insert_text((76, 215), "申请人情况", fontname="china-s", fontsize=10)
    page.insert_text((76, 235), "total count", fontsize=10)
    page.insert_text((226, 255), "447228", fontsize=10)

    lay = read_page(page, 0)
    assert [line.text for line in lay.lines] == ["三、收到和处理政府信息公开申请情况"]
    a, b = lay.tables
    assert (a.n_rows, a.n_cols) == (2, 3)
    assert [[c.text for c in row] for row in a.rows()] == [
        ["予以公开", "12", "34"],
        ["56", "78", ""],
    ]
    assert (b.n_rows, b.n_cols) == (3, 2)
    assert [[c.text for c in row] for row in b.rows()] == [
        ["申请人情况", ""],
        ["total count", ""],
        ["", "447228"],
    ]


@pytest.mark.parametrize(
    ("name", "counts"),
    [("doc003", [1, 3, 0]), ("doc011", [2, 2, 0])],
)
def test_tables_per_page(name, counts):
    layouts = _layouts(name)
    assert [len(lay.tables) for lay in layouts] == counts
    for lay in layouts:
        assert lay.source == "text-layer"
        assert lay.rotation == 0
        assert (lay.width, lay.height) == pytest.approx((595.3, 841.9), abs=0.1)
        for t in lay.tables:
            assert t.page == lay.page
            assert t.row_edges == sorted(t.row_edges)
            assert t.col_edges == sorted(t.col_edges)


@pytest.mark.parametrize(("name", "n_rows"), [("doc003", 23), ("doc011", 25)])
def test_section3_value_rows_match_truth(name, n_rows):
    """2019: 23 value rows, 2021: 25 (split 3 + 22 over two pages in doc011);
    every value row's label names a truth row and all 7 numbers match."""
    truth = _truth(name)
    tables = _section3_tables(_layouts(name))
    rows = [r for t in tables for r in _value_rows(t, 7)]
    assert len(rows) == n_rows
    row_paths = {k.split("|")[1] for k in truth if k.startswith("三|")}
    seen = set()
    for label, values in rows:
        # a page break may cut the spanning label (doc011: 三、本 | 年度办理结果)
        matches = [p for p in row_paths if p == label or p.endswith("/" + label)]
        assert len(matches) == 1, (label, matches)
        path = matches[0]
        seen.add(path)
        want = [truth[f"三|{path}|{col}"] for col in APPLICANT_COLS]
        assert [_value(v) for v in values] == want, path
    assert seen == row_paths


def test_specific_cells_doc011():
    truth = _truth("doc011")
    layouts = _layouts("doc011")
    cells = {}
    for t in _section3_tables(layouts):
        for label, values in _value_rows(t, 7):
            cells[label] = values
    key = "三|三、本年度办理结果/（一）予以公开|总计"
    assert cells["（一）予以公开"][-1] == str(truth[key]) == "10"
    assert cells["（七）总计"][-1] == str(truth["三|三、本年度办理结果/（七）总计|总计"])
    assert cells["2.重复申请"][0] == "1"

    # the split spanning label: first part on page 0, the rest on page 1
    p0 = [c.text for t in layouts[0].tables for c in t.cells]
    p1 = [c.text for t in layouts[1].tables for c in t.cells]
    assert "三、本" in p0 and "年度办理结果" in p1
    # header cells read whole, across wrapped lines
    assert "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）" in p0
    assert "社会公益组织" in p0
    assert "（二）部分公开（区分处理的，只计这一情形，不计其他情形）" in p1


@pytest.mark.parametrize("name", ["doc003", "doc011"])
def test_section4_row(name):
    truth = _truth(name)
    layouts = _layouts(name)
    (t,) = [t for lay in layouts for t in lay.tables if t.n_cols == 15]
    assert t.n_rows == 4
    (values,) = [v for _, v in _value_rows(t, 15)]
    assert [_value(v) for v in values] == [truth[f"四||{c}"] for c in REVIEW_COLS]
    assert [c.text for c in t.rows()[0]] == ["行政复议", "行政诉讼"]


def test_section2_doc011():
    truth = _truth("doc011")
    (t, _) = _layouts("doc011")[0].tables
    rows = {r[0].text: [c.text for c in r[1:]] for r in t.rows() if len(r) > 1}
    prefix = "二|第二十条第（一）项/行政规范性文件|"
    assert rows["行政规范性文件"] == [
        str(truth[prefix + c]) for c in ("本年制发件数", "本年废止件数", "现行有效件数")
    ]
    assert rows["行政许可"] == [str(truth["二|第二十条第（五）项/行政许可|本年处理决定数量"])]


@pytest.mark.parametrize("name", ["doc003", "doc011"])
def test_headings_are_whole_lines_in_order(name):
    layouts = _layouts(name)
    texts = [line.text for lay in layouts for line in lay.lines]
    headings = [
        "一、总体情况",
        "二、主动公开政府信息情况",
        "三、收到和处理政府信息公开申请情况",
        "四、政府信息公开行政复议、行政诉讼情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    ]
    positions = [texts.index(h) for h in headings]
    assert positions == sorted(positions)
    assert texts[0].endswith("政府信息公开工作年度报告") or texts[0].endswith("工作年")
    # lines on a page are in reading order (top to bottom)
    for lay in layouts:
        tops = [line.bbox[1] for line in lay.lines]
        assert tops == sorted(tops)
        # no table text leaks into the lines
        for line in lay.lines:
            cx, cy = (line.bbox[0] + line.bbox[2]) / 2, (line.bbox[1] + line.bbox[3]) / 2
            for t in lay.tables:
                x0, y0, x1, y1 = t.bbox
                assert not (x0 < cx < x1 and y0 < cy < y1)


def _signature(layouts: list[PageLayout]) -> dict:
    return {
        "document": "doc011",
        "pages": [
            {
                "page": lay.page,
                "tables": [
                    {
                        "n_rows": t.n_rows,
                        "n_cols": t.n_cols,
                        "cells": [[c.row, c.col, c.row_span, c.col_span, c.text] for c in t.cells],
                    }
                    for t in lay.tables
                ],
            }
            for lay in layouts
        ],
    }


def test_golden_doc011():
    got = _signature(_layouts("doc011"))
    if os.environ.get("TALLYSCAN_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        with GOLDEN.open("w", encoding="utf-8") as f:
            f.write("{\n")
            f.write(f'  "document": {json.dumps(got["document"])},\n  "pages": [\n')
            for pi, page in enumerate(got["pages"]):
                f.write(f'    {{"page": {page["page"]}, "tables": [\n')
                for ti, t in enumerate(page["tables"]):
                    f.write(
                        f'      {{"n_rows": {t["n_rows"]}, "n_cols": {t["n_cols"]}, "cells": [\n'
                    )
                    rows = [json.dumps(c, ensure_ascii=False) for c in t["cells"]]
                    f.write(",\n".join("        " + r for r in rows) + "\n")
                    f.write("      ]}" + ("," if ti < len(page["tables"]) - 1 else "") + "\n")
                f.write("    ]}" + ("," if pi < len(got["pages"]) - 1 else "") + "\n")
            f.write("  ]\n}\n")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert got == want


def test_rotated_page_reads_the_same():
    base = read_page(_pdf("doc011")[1], 1)
    for rot in (90, 180, 270):
        doc = _pdf("doc011")
        page = doc[1]
        page.set_rotation(rot)  # displayed sideways: turned back upright
        lay = read_page(page, 1)
        assert lay.rotation == (360 - rot) % 360
        assert _signature([lay]) == _signature([base])
        for a, b in zip(lay.tables, base.tables, strict=True):
            assert a.bbox == pytest.approx(b.bbox)

    # a landscape sheet whose content is drawn turned, displayed upright via /Rotate
    src = _pdf("doc011")
    out = pymupdf.open()
    w, h = src[1].rect.width, src[1].rect.height
    page = out.new_page(width=h, height=w)
    page.show_pdf_page(page.rect, src, 1, rotate=90)
    page.set_rotation(90)
    lay = read_page(page, 1)
    assert lay.rotation == 0
    assert (lay.width, lay.height) == pytest.approx((w, h))
    assert _signature([lay]) == _signature([base])


def test_speed():
    """<= 0.05 s per page (best of three passes over doc003 + doc011)."""
    pages = [p for name in ("doc003", "doc011") for p in _pdf(name)]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i, p in enumerate(pages):
            has_text_layer(p)
            read_page(p, i)
        best = min(best, (time.perf_counter() - t0) / len(pages))
    assert best <= 0.05
