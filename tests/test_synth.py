"""The synthetic report generator: values obey the template, PDFs carry them."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import numpy as np
import pymupdf
import pytest

from tallyscan.synth import (
    collapse_six_row,
    constraint_violations,
    format_number,
    layout_report,
    make_report,
    random_values,
    scan_pdf,
)
from tallyscan.synth.make_samples import SAMPLES, build_sample
from tallyscan.synth.values import SIX_ROW_2019

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = json.loads(
    (ROOT / "tallyscan/postprocess/templates/report.json").read_text(encoding="utf-8")
)
SAMPLES_DIR = ROOT / "samples"


# --------------------------------------------------------------------------- template, read here independently


def _spec(section: str, version: str) -> dict:
    sec = TEMPLATE["sections"][section]
    return sec.get(version) or sec["any"]


def template_keys(version: str, v3: str | None = None) -> set[str]:
    keys = set()
    for b in _spec("二", version)["blocks"]:
        keys |= {f"二|{b['heading']}/{r}|{c}" for r in b["rows"] for c in b["columns"]}
    s3 = _spec("三", v3 or version)
    keys |= {f"三|{r}|{c}" for r in s3["rows"] for c in s3["columns"]}
    keys |= {f"四||{c}" for c in _spec("四", version)["columns"]}
    return keys


def broken_constraints(
    values: dict, version: str, v3: str | None = None
) -> list[tuple[str, str, set[str]]]:
    """(constraint name, line, keys involved) for every constraint that does not hold."""
    bad = []
    for section in ("三", "四"):
        spec = _spec(section, (v3 or version) if section == "三" else version)
        for con in spec["constraints"]:
            lines = spec["rows"] if con["each"] == "row" else spec["columns"]
            for line in lines:

                def key(item, line=line, con=con, section=section):
                    return (
                        f"{section}|{line}|{item}"
                        if con["each"] == "row"
                        else f"{section}|{item}|{line}"
                    )

                if "total" in con:
                    left, right = [key(con["total"])], [key(p) for p in con["parts"]]
                else:
                    left, right = [key(p) for p in con["left"]], [key(p) for p in con["right"]]
                if sum(values[k] for k in left) != sum(values[k] for k in right):
                    bad.append((con["name"], line, set(left) | set(right)))
    return bad


def leaf_labels(version: str, v3: str | None = None) -> set[str]:
    labels = set()
    for b in _spec("二", version)["blocks"]:
        labels |= {b["heading"], *b["rows"], *b["columns"]}
    s3 = _spec("三", v3 or version)
    labels |= {r.split("/")[-1] for r in s3["rows"]} | {c.split("/")[-1] for c in s3["columns"]}
    labels |= {c.split("/")[-1] for c in _spec("四", version)["columns"]}
    return labels


def squeeze(s: str) -> str:
    return "".join(s.split())


def cell_text(doc: pymupdf.Document, cell) -> str:
    return squeeze("".join(doc[p].get_text("text", clip=pymupdf.Rect(b)) for p, b in cell.boxes))


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_values_cover_template_and_hold_every_sum(version):
    zero_shares = []
    for seed in range(40):
        vals = random_values(version, random.Random(seed))
        assert set(vals) == template_keys(version)
        assert broken_constraints(vals, version) == []
        assert constraint_violations(vals, version) == []
        for k, v in vals.items():
            assert isinstance(v, int | float)
            if v < 0:
                assert k.endswith("|本年增/减"), k  # only 2019's 本年增/减 may be negative
            if isinstance(v, float):
                assert k.startswith("二|"), k
        zero_shares.append(sum(v == 0 for v in vals.values()) / len(vals))
    assert 0.74 <= float(np.mean(zero_shares)) <= 0.86
    assert len(set(zero_shares)) > 5  # documents differ


def test_values_are_deterministic_and_accept_several_rngs():
    assert random_values("2021", 7) == random_values("2021", random.Random(7))
    a = random_values("2021", np.random.default_rng(3))
    b = random_values("2021", np.random.default_rng(3))
    assert a == b
    assert random_values("2019", 1, zero_share=1.0) == dict.fromkeys(
        random_values("2019", 1, zero_share=1.0), 0
    )


def test_values_include_large_counts_and_decimal_money():
    money, large = [], []
    for seed in range(150):
        vals = random_values("2021", seed)
        money += [v for k, v in vals.items() if "万元" in k and v]
        large += [v for v in vals.values() if v >= 10000]
    assert any(isinstance(v, float) and not v.is_integer() for v in money)
    assert large


@pytest.mark.parametrize("version", ["2019", "2021"])
def test_inconsistent_values_break_one_sum_at_the_returned_key(version):
    for seed in range(25):
        vals, key = random_values(version, seed, inconsistent=True)
        assert set(vals) == template_keys(version)
        bad = broken_constraints(vals, version)
        assert bad, seed
        assert all(key in keys for _, _, keys in bad), (key, bad)


# --------------------------------------------------------------------------- born-digital rendering


@pytest.mark.parametrize(
    ("version", "seed", "zero_style", "font_size"),
    [("2021", 1, "0", 9), ("2019", 2, "—", 9), ("2021", 3, "", 10), ("2019", 4, "无", 8)],
)
def test_rendered_pdf_text_layer_has_values_and_labels(version, seed, zero_style, font_size):
    vals = random_values(version, seed)
    rep = layout_report(
        vals,
        version=version,
        agency="云溪县统计局",
        year=2022,
        zero_style=zero_style,
        font_size=font_size,
        seed=seed,
    )
    doc = pymupdf.open(stream=rep.pdf, filetype="pdf")
    assert doc.page_count == rep.pages >= 2
    full = squeeze("".join(p.get_text() for p in doc))
    assert "云溪县统计局2022年政府信息公开工作年度报告" in full
    for heading in (
        "一、总体情况",
        "三、收到和处理政府信息公开申请情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    ):
        assert heading in full
    words = {w[4] for p in doc for w in p.get_text("words")}

    # every nonzero value is in the text layer, and each value cell reads as printed
    value_cells = {c.key: c for c in rep.cells if c.role == "value"}
    assert set(value_cells) == template_keys(version)
    for key, v in vals.items():
        text = format_number(v, zero_style)
        if v != 0:
            assert text in words, (key, text)
        assert cell_text(doc, value_cells[key]) == squeeze(text), key

    # every canonical leaf label is printed, whole, inside its own cell
    printed_labels = {}
    for c in rep.cells:
        if c.role != "value" and not c.repeat:
            printed_labels.setdefault(c.canonical, []).append(cell_text(doc, c))
    for label in leaf_labels(version):
        assert label in printed_labels, label
        assert squeeze(label) in printed_labels[label], (label, printed_labels[label])

    # ruled tables: vector lines, not images
    assert sum(len(p.get_drawings()) for p in doc) > 0
    assert all(not p.get_images() for p in doc)


def test_section3_table_continues_on_next_page_with_merged_label():
    split = 0
    for seed in range(6):
        rep = layout_report(
            random_values("2021", seed),
            version="2021",
            agency="青禾县司法局",
            year=2023,
            seed=seed,
            repeat_header=True,
        )
        pages3 = {p for c in rep.cells if c.section == "三" for p, _ in c.boxes}
        if len(pages3) > 1:
            split += 1
            block = [
                c for c in rep.cells if c.section == "三" and c.canonical == "三、本年度办理结果"
            ]
            assert block and any(len(c.boxes) >= 1 for c in block)
            # the repeated header is drawn again on the continuation page
            assert any(c.repeat and c.canonical == "申请人情况" for c in rep.cells)
    assert split >= 3


def test_mixed_six_row_and_misprints():
    vals = random_values("2021", 11)
    rep = layout_report(
        vals,
        version="2021",
        agency="白泉区商务局",
        year=2023,
        seed=11,
        mixed_six_row=True,
        misprints=True,
    )
    assert rep.printed == collapse_six_row(vals)
    assert set(rep.printed) == template_keys("2021", v3="2019")
    assert constraint_violations(rep.printed, "2021", six_row_version="2019") == []
    assert broken_constraints(rep.printed, "2021", v3="2019") == []
    doc = pymupdf.open(stream=rep.pdf, filetype="pdf")
    labels = {c.canonical: cell_text(doc, c) for c in rep.cells if c.role == "label"}
    assert labels["（六）其他处理"] == "（六）其他处理"
    assert labels["2.其他法律行政法规禁止公开"] == "2.其他法律行政止公开"
    assert labels["1.属于国家秘密"] == "1、属于国家秘密"
    six = [c for c in rep.cells if c.key and c.key.startswith(f"三|{SIX_ROW_2019}|")]
    assert len(six) == 7


def test_render_report_is_deterministic():
    vals = random_values("2019", 5)
    a = layout_report(vals, version="2019", agency="兰川市财政局", year=2020, seed=5).pdf
    b = layout_report(vals, version="2019", agency="兰川市财政局", year=2020, seed=5).pdf
    assert a == b


# --------------------------------------------------------------------------- scans


@pytest.fixture(scope="module")
def digital_pdf() -> bytes:
    return layout_report(
        random_values("2021", 21), version="2021", agency="松岭县水利局", year=2022, seed=21
    ).pdf


def _page_image(page: pymupdf.Page) -> np.ndarray:
    ((xref, *_rest),) = page.get_images(full=True)
    pix = pymupdf.Pixmap(page.parent, xref)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, pix.n)


@pytest.mark.parametrize("level", ["clean", "mild", "heavy"])
def test_scan_has_no_text_layer_and_same_pages(digital_pdf, level):
    src = pymupdf.open(stream=digital_pdf, filetype="pdf")
    out = scan_pdf(digital_pdf, level=level, dpi=100, seed=3, color=level != "clean")
    doc = pymupdf.open(stream=out, filetype="pdf")
    assert doc.page_count == src.page_count
    for page, orig in zip(doc, src, strict=True):
        assert page.get_text().strip() == ""
        assert not page.get_text("words")
        assert len(page.get_images()) == 1
        assert (
            abs(page.rect.width - orig.rect.width) < 1.5
            and abs(page.rect.height - orig.rect.height) < 1.5
        )
        img = _page_image(page)
        assert img.shape[2] == (1 if level == "clean" else 3)
        assert img.shape[1] == pytest.approx(orig.rect.width * 100 / 72, abs=2)


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_scan_rotation_turns_the_sheet_and_the_page_box(digital_pdf, rotate):
    upright = pymupdf.open(
        stream=scan_pdf(digital_pdf, level="mild", dpi=60, seed=4), filetype="pdf"
    )
    turned = pymupdf.open(
        stream=scan_pdf(digital_pdf, level="mild", dpi=60, seed=4, rotate=rotate), filetype="pdf"
    )
    for up, tp in zip(upright, turned, strict=True):
        if rotate in (90, 270):
            assert tp.rect.width == pytest.approx(up.rect.height, abs=1.5)
            assert tp.rect.height == pytest.approx(up.rect.width, abs=1.5)
            assert tp.rect.width > tp.rect.height
        else:
            assert tp.rect == up.rect
        assert tp.rotation == 0
        a = _page_image(up).astype(np.float32)
        b = _page_image(tp).astype(np.float32)
        expected = np.rot90(a, k=-(rotate // 90))  # clockwise turn
        assert b.shape == expected.shape
        assert np.abs(b - expected).mean() < 4.0
        if rotate == 180:  # same shape as upright, but clearly not the upright image
            assert np.abs(b - a).mean() > np.abs(b - expected).mean() + 2.0


def test_scan_is_deterministic_and_has_a_red_seal(digital_pdf):
    a = scan_pdf(digital_pdf, level="heavy", dpi=72, seed=9)
    assert a == scan_pdf(digital_pdf, level="heavy", dpi=72, seed=9)
    assert a != scan_pdf(digital_pdf, level="heavy", dpi=72, seed=10)
    doc = pymupdf.open(stream=a, filetype="pdf")
    reds = 0
    for page in doc:
        img = _page_image(page).astype(int)
        reds += int(((img[..., 0] - img[..., 1] > 50) & (img[..., 0] - img[..., 2] > 40)).sum())
    assert reds > 200


def test_make_report_truth_matches_devset_format():
    pdf, truth = make_report(
        5, version="2019", kind="scan", level="mild", dpi=72, rotate=90, inconsistent=True
    )
    meta = truth["meta"]
    for field in (
        "font",
        "table_pt",
        "zero_style",
        "year",
        "agency",
        "version",
        "kind",
        "level",
        "dpi",
        "color",
        "turned",
        "source_inconsistent",
    ):
        assert field in meta
    assert (
        meta["kind"] == "scan" and meta["rotate"] == 90 and meta["turned"] == 0
    )  # cv2.ROTATE_90_CLOCKWISE
    assert set(truth["cells"]) == template_keys("2019")
    key = meta["source_inconsistent"]
    assert key in truth["cells"]
    assert any(key in keys for _, _, keys in broken_constraints(truth["cells"], "2019"))
    assert pymupdf.open(stream=pdf, filetype="pdf").page_count == meta["pages"]


# --------------------------------------------------------------------------- samples


def test_make_samples_is_deterministic_and_matches_samples_dir():
    for sample in SAMPLES:
        pdf, truth = build_sample(sample)
        if sample.kwargs.get("kind") == "digital" or sample.kwargs.get("level") == "heavy":
            pdf2, truth2 = build_sample(sample)
            assert hashlib.sha256(pdf).hexdigest() == hashlib.sha256(pdf2).hexdigest()
            assert truth == truth2
        assert len(pdf) < 1_500_000
        on_disk = SAMPLES_DIR / f"{sample.name}.truth.json"
        if on_disk.exists():
            assert json.loads(on_disk.read_text(encoding="utf-8")) == json.loads(
                json.dumps(truth)
            ), sample.name
            assert (SAMPLES_DIR / f"{sample.name}.pdf").stat().st_size < 1_500_000
    names = [s.name for s in SAMPLES]
    assert len(set(names)) == len(names) and all(re.fullmatch(r"[a-z0-9-]+", n) for n in names)
