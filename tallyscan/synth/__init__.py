"""Synthetic annual reports with known answers, for tests, samples and benchmarks.

* ``values.random_values`` – numbers for every canonical cell, obeying the sums.
* ``render.render_report`` / ``layout_report`` – a born-digital PDF (Word-like).
* ``degrade.scan_pdf`` – an image-only "printed and scanned" copy of a PDF.
* ``make_report`` – all three in one call, returning the PDF and its truth JSON
  (same format as the devset's ``docNNN.truth.json``).

Everything is deterministic for a given seed. Values and agency names are
random inventions, not any real agency's figures.
"""

from __future__ import annotations

import random
from typing import Any

from .degrade import CV2_TURN, scan_pdf
from .render import LaidCell, RenderedReport, layout_report, render_report
from .values import (
    SIX_ROW_2019,
    canonical_keys,
    cell_key,
    collapse_six_row,
    constraint_violations,
    format_number,
    load_template,
    random_values,
)

__all__ = [
    "LaidCell",
    "RenderedReport",
    "canonical_keys",
    "cell_key",
    "collapse_six_row",
    "constraint_violations",
    "format_number",
    "layout_report",
    "load_template",
    "make_report",
    "random_agency",
    "random_values",
    "render_report",
    "scan_pdf",
]

# Invented place names and common department names.
_PLACES = [
    "云溪县",
    "青禾县",
    "白泉区",
    "石桥镇",
    "松岭县",
    "兰川市",
    "鹤鸣区",
    "柳塘县",
    "金沙湾区",
    "梅岗县",
    "碧水市",
    "棠溪县",
    "望川区",
    "桐林县",
    "苍梧山区",
    "南屏县",
]
_DEPARTMENTS = [
    "人民政府办公室",
    "发展和改革委员会",
    "教育局",
    "公安局",
    "民政局",
    "司法局",
    "财政局",
    "人力资源和社会保障局",
    "自然资源局",
    "生态环境局",
    "住房和城乡建设局",
    "交通运输局",
    "水利局",
    "农业农村局",
    "商务局",
    "文化广电旅游局",
    "卫生健康委员会",
    "应急管理局",
    "市场监督管理局",
    "统计局",
    "医疗保障局",
    "林业局",
    "退役军人事务局",
    "审计局",
]


def random_agency(rng: random.Random) -> str:
    """An invented agency name like 云溪县卫生健康委员会."""
    return rng.choice(_PLACES) + rng.choice(_DEPARTMENTS)


def make_report(
    seed: int,
    *,
    version: str = "2021",
    kind: str = "digital",
    level: str | None = None,
    dpi: int = 200,
    rotate: int = 0,
    color: bool = True,
    zero_style: str = "0",
    font_size: float = 9,
    inconsistent: bool = False,
    misprints: bool = False,
    mixed_six_row: bool = False,
    zero_share: float = 0.8,
    agency: str | None = None,
    year: int | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """One synthetic report: ``(pdf_bytes, truth)``.

    ``kind`` is "digital" (born-digital, text layer) or "scan" (``level`` clean/
    mild/heavy, default mild). ``truth`` is ``{"meta": {...}, "cells": {...}}``
    with the printed values under their canonical keys, as in the devset.
    """
    if kind not in ("digital", "scan"):
        raise ValueError(f"kind must be 'digital' or 'scan', not {kind!r}")
    r = random.Random(f"make_report:{seed}")
    agency = agency or random_agency(r)
    if year is None:
        year = r.choice([2019, 2020]) if version == "2019" else r.randint(2021, 2024)
    bad_key: str | None = None
    if inconsistent:
        values, bad_key = random_values(version, r, zero_share=zero_share, inconsistent=True)
    else:
        values = random_values(version, r, zero_share=zero_share)
    rep = layout_report(
        values,
        version=version,
        agency=agency,
        year=year,
        zero_style=zero_style,
        font_size=font_size,
        seed=seed,
        mixed_six_row=mixed_six_row,
        misprints=misprints,
    )
    if bad_key and bad_key not in rep.printed:  # a （六） sub-row folded into the single row
        bad_key = cell_key("三", SIX_ROW_2019, bad_key.split("|")[2])
    pdf = rep.pdf
    if kind == "scan":
        level = level or "mild"
        pdf = scan_pdf(pdf, level=level, dpi=dpi, rotate=rotate, seed=seed, color=color)
    meta: dict[str, Any] = {
        "font": rep.options["font"],
        "table_pt": font_size,
        "zero_style": zero_style,
        "year": year,
        "agency": agency,
        "version": version,
        "kind": kind,
        "level": level if kind == "scan" else None,
        "dpi": dpi if kind == "scan" else None,
        "color": color if kind == "scan" else None,
        "turned": CV2_TURN[rotate] if kind == "scan" else None,
        "rotate": rotate if kind == "scan" else 0,
        "source_inconsistent": bad_key,
        "mixed_six_row": mixed_six_row,
        "misprints": misprints,
        "pages": rep.pages,
        "synthetic": True,
        "generator": "tallyscan.synth.make_report",
        "seed": seed,
    }
    return pdf, {"meta": meta, "cells": dict(rep.printed)}
