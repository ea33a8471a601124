"""The benchmark's report: figures scaled to issue 2's reference machine."""

from pathlib import Path

from tallyscan.bench import REFERENCE_CROPS_PER_S, render_markdown


def _report(reference: float | None) -> dict:
    group = {"documents": 1, "pages": 4, "cells": 200, "right": 200, "read_right": 198,
             "repaired": 2, "repaired_right": 2, "wrong_ok": 0, "flagged": 3, "seconds": 2.0,
             "t_ocr": 1.2, "t_layout": 0.6, "repair_times": [0.01]}
    return {"groups": {"scan-heavy": group}, "documents": [], "misprints": [], "startup_s": 2.5,
            "yardstick_ms": 12.0, "rapidocr_crops_per_s": reference, "cpu": "test"}


def test_speed_is_scaled_to_the_reference_machine():
    md = render_markdown(_report(1.5 * REFERENCE_CROPS_PER_S), Path("devset"))
    # 2.0 s over 4 pages here, on a machine 1.5 times the reference's speed.
    assert "all scans would take about **0.750 s/page**" in md
    # OCR, 1.2 s of the 2.0, scaled alone: (0.8 + 1.5 * 1.2) / 4
    assert "(0.650 with only the OCR stage scaled)" in md
    assert "| all scans | 1 | 4 |" in md and "| 0.500 |" in md


def test_no_scaled_figure_without_the_reference_reading():
    md = render_markdown(_report(None), Path("devset"))
    assert "Scaled to that machine" not in md
