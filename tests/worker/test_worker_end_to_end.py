"""End to end on the devset: submit it, run two workers, export -- the cells are exactly
what `tallyscan extract` writes for the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tallyscan.cli import main
from tallyscan.export import read_csv

DEVSET = Path(__file__).resolve().parents[3] / "shared" / "devset"


@pytest.mark.slow
def test_devset_through_two_workers_exports_what_extract_gives(service, tmp_path, capsys):
    pdfs = sorted(DEVSET.glob("*.pdf"))
    assert len(pdfs) == 20, f"the devset is missing at {DEVSET}"
    embedded = tmp_path / "extract"
    assert main(["extract", str(DEVSET), "--out", str(embedded), "--no-store", "-q"]) == 0

    service.start_worker(concurrency=1, via="tallyscan")
    service.start_worker(concurrency=1, via="tallyscan")
    batch = service.submit(str(DEVSET))
    counts = service.wait_finished(batch, 20, timeout=600)
    assert counts == {"queued": 0, "running": 0, "done": 20, "failed": 0}
    workers = {row.worker.rsplit(":", 1)[0] for row in service.store.documents(batch)}
    assert len(workers) == 2, workers  # both workers took part

    exported = tmp_path / "export"
    assert main(["export", batch, "--format", "csv", "--out", str(exported)]) == 0
    assert (exported / "cells.csv").read_bytes() == (embedded / "cells.csv").read_bytes()
    ours, theirs = read_csv(exported / "documents.csv"), read_csv(embedded / "documents.csv")
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in ours] == \
           [{k: v for k, v in r.items() if k not in drop} for r in theirs]
    wide = read_csv(exported / "wide.csv")
    assert {r["document"] for r in wide} == {r["file"] for r in theirs}
    assert service.store.duplicate_cells() == 0

    capsys.readouterr()
    assert main(["status", batch]) == 0
    status = capsys.readouterr().out
    assert "20/20 finished (100%)" in status and "done 20" in status
