"""End to end: `tallyscan extract samples/` against the samples' known answers.

Floors for the scanned samples are the accuracy measured when the test was
written, so a regression fails loudly; raise them as the extractor improves.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

# sample -> minimum share of cells whose value equals the truth
FLOORS = {
    "digital-2021.pdf": 1.0,
    "scan-2021-mild-180.pdf": 0.98,
    "scan-2019-clean.pdf": 0.98,
    "scan-2021-heavy-dash.pdf": 0.0,  # no grid found yet: see BENCHMARKS.md
}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run(
        [sys.executable, "-m", "tallyscan", "extract", str(SAMPLES), "--out", str(out), "--jobs", "2", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    with (out / "cells.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return out, rows


def _truth(name: str) -> dict:
    return json.loads((SAMPLES / name.replace(".pdf", ".truth.json")).read_text("utf-8"))["cells"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_sample_values_match_truth(extracted, name):
    _, rows = extracted
    truth = _truth(name)
    got = {f"{r['section']}|{r['row_path']}|{r['col_path']}": r for r in rows if Path(r["document"]).name == name}
    assert set(got) == set(truth), "every canonical cell is written, found or not"
    right = sum(1 for k, v in truth.items() if got[k]["value"] != "" and abs(float(got[k]["value"]) - v) < 1e-6)
    assert right / len(truth) >= FLOORS[name]
    # A cell shown as ok must be right: the promise of the tool.
    wrong_ok = [k for k, v in truth.items() if got[k]["status"] == "ok" and (got[k]["value"] == "" or abs(float(got[k]["value"]) - v) > 1e-6)]
    assert wrong_ok == []


@pytest.mark.slow
def test_documents_csv_and_json(extracted):
    out, _ = extracted
    with (out / "documents.csv").open(encoding="utf-8-sig") as f:
        docs = {Path(r["file"]).name: r for r in csv.DictReader(f)}
    assert set(docs) == set(FLOORS)
    assert all(d["status"] == "done" for d in docs.values())
    digital = docs["digital-2021.pdf"]
    meta = json.loads((SAMPLES / "digital-2021.truth.json").read_text("utf-8"))["meta"]
    assert digital["agency"] == meta["agency"] and int(digital["year"]) == meta["year"]
    assert json.loads((out / "digital-2021.json").read_text("utf-8"))["status"] == "done"
