"""Review round trip: export flagged cells with crops, correct them, apply, apply again."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tallyscan.cli import main
from tallyscan.exceptions import ExitCode
from tallyscan.export import read_csv, write_document_json
from tallyscan.model import DocumentResult
from tallyscan.postprocess.repair import repair_cells
from tallyscan.review import REVIEW_COLUMNS

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
BOM = b"\xef\xbb\xbf"
ROW = "三|三、本年度办理结果/（一）予以公开|自然人"


@pytest.fixture
def extracted(tmp_path, monkeypatch):
    """The born-digital sample extracted, then one section 三 number misprinted."""
    monkeypatch.setenv("TALLYSCAN_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.chdir(tmp_path)
    pdf = tmp_path / "digital-2021.pdf"
    pdf.write_bytes((SAMPLES / "digital-2021.pdf").read_bytes())
    out = tmp_path / "out"
    assert main(["extract", "digital-2021.pdf", "--out", str(out), "--jobs", "1", "-q"]) == 0
    (json_path,) = [p for p in out.glob("*.json")]
    result = DocumentResult.from_json(json.loads(json_path.read_text("utf-8")))
    cell = next(c for c in result.cells if c.key == ROW)
    truth = cell.value
    cell.value, cell.raw_text = truth + 5, str(truth + 5)  # as if printed wrong, read with certainty
    outcome = repair_cells(result.cells, {s: v for s, v in result.templates.items() if v != "missing"})
    result.cells, result.failed_equations = outcome.cells, outcome.failed_equations
    write_document_json(json_path, result)
    return out, json_path, truth


def write_review(path: Path, rows: list[dict]) -> None:
    """Save the review file as a reviewer's spreadsheet would."""
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(REVIEW_COLUMNS))
        w.writeheader()
        w.writerows(rows)


def test_export_lists_flagged_cells_with_crops(extracted, tmp_path):
    out, json_path, truth = extracted
    review = tmp_path / "review.csv"
    assert main(["review", "export", str(out), "--out", str(review)]) == 0
    assert review.read_bytes().startswith(BOM)
    rows = read_csv(review)
    assert list(rows[0]) == list(REVIEW_COLUMNS)
    keys = {f"{r['section']}|{r['row_path']}|{r['col_path']}" for r in rows}
    assert ROW in keys
    assert {r["status"] for r in rows} == {"inconsistent"}
    mine = next(r for r in rows if f"{r['section']}|{r['row_path']}|{r['col_path']}" == ROW)
    assert mine["value"] == str(truth + 5) and mine["corrected_value"] == ""
    assert "行合计" in mine["reason"] or "总计" in mine["reason"]
    for r in rows:
        crop = cv2.imread(str(tmp_path / r["crop"]), cv2.IMREAD_GRAYSCALE)
        row_crop = cv2.imread(str(tmp_path / r["row_crop"]), cv2.IMREAD_GRAYSCALE)
        assert crop is not None and row_crop is not None
        assert row_crop.shape[1] > 3 * crop.shape[1]  # the whole row, for context
        assert (crop < 128).sum() > 10  # the printed digit is in the crop


def test_apply_corrects_rechecks_and_is_idempotent(extracted, tmp_path, capsys):
    out, json_path, truth = extracted
    review = tmp_path / "review.csv"
    assert main(["review", "export", str(out), "--out", str(review), "--no-crops"]) == 0
    before = json.loads(json_path.read_text("utf-8"))
    assert before["failed_equations"]
    rows = read_csv(review)
    for r in rows:
        if f"{r['section']}|{r['row_path']}|{r['col_path']}" == ROW:
            r["corrected_value"] = str(truth)
    write_review(review, rows)
    capsys.readouterr()
    assert main(["review", "apply", str(review), "--who", "li.wei"]) == 0
    said = capsys.readouterr().out
    assert "1 corrections applied" in said and "every equation" in said
    after = json.loads(json_path.read_text("utf-8"))
    assert after["failed_equations"] == []
    cell = next(c for c in after["cells"] if f"{c['section']}|{c['row_path']}|{c['col_path']}" == ROW)
    assert cell["value"] == truth and cell["status"] == "corrected"
    (audit,) = after["corrections"]
    assert audit["old"] == truth + 5 and audit["new"] == truth and audit["who"] == "li.wei"
    assert {c["status"] for c in after["cells"]} == {"ok", "corrected"}
    cells_csv = {f"{r['section']}|{r['row_path']}|{r['col_path']}": r for r in read_csv(out / "cells.csv")}
    assert cells_csv[ROW]["value"] == str(truth) and cells_csv[ROW]["status"] == "corrected"
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["review", "apply", str(review), "--who", "someone.else"]) == 0
    assert "0 corrections applied, 1 already applied" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot


def test_apply_reports_what_still_fails_and_rejects_bad_rows(extracted, tmp_path, capsys):
    out, json_path, truth = extracted
    review = tmp_path / "review.csv"
    assert main(["review", "export", str(out), "--out", str(review), "--no-crops"]) == 0
    rows = read_csv(review)
    rows[0]["corrected_value"] = "abc"
    write_review(review, rows)
    original = json_path.read_bytes()
    assert main(["review", "apply", str(review)]) == ExitCode.bad_arguments
    assert "not a number" in capsys.readouterr().err
    assert json_path.read_bytes() == original  # nothing applied
    # Confirming the printed (wrong) value leaves the sum failing: it is reported.
    for r in rows:
        r["corrected_value"] = ""
        if f"{r['section']}|{r['row_path']}|{r['col_path']}" == ROW:
            r["corrected_value"] = r["value"]
    write_review(review, rows)
    assert main(["review", "apply", str(review)]) == 0
    said = capsys.readouterr().out
    assert "still failing" in said and "行合计" in said
    after = json.loads(json_path.read_text("utf-8"))
    assert after["failed_equations"]


def test_round_trip_through_the_store(extracted, tmp_path, capsys):
    """extract saved the result in the (SQLite) store: review it from there."""
    from tallyscan.store import open_store

    out, json_path, truth = extracted
    store = open_store()
    (stored,) = list(store.results())
    # Put the misprinted version in the store, as the folder has it.
    store.save_result(DocumentResult.from_json(json.loads(json_path.read_text("utf-8"))))
    review = tmp_path / "from-store.csv"
    assert main(["review", "export", "store", "--out", str(review)]) == 0
    rows = read_csv(review)
    assert rows and {r["origin"] for r in rows} == {"store"}
    assert all(r["crop"] for r in rows)  # the file is found where extract read it
    for r in rows:
        if f"{r['section']}|{r['row_path']}|{r['col_path']}" == ROW:
            r["corrected_value"] = str(truth)
    write_review(review, rows)
    assert main(["review", "apply", str(review), "--who", "li.wei"]) == 0
    after = store.result(stored.sha256)
    cell = next(c for c in after.cells if c.key == ROW)
    assert cell.value == truth and cell.status == "corrected"
    assert after.failed_equations == [] and after.corrections[0]["who"] == "li.wei"
    assert main(["review", "apply", str(review)]) == 0
    assert store.result(stored.sha256).corrections == after.corrections
