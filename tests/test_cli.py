from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tallyscan.cli import main
from tallyscan.exceptions import ExitCode
from tallyscan.export import CELL_COLUMNS, DOCUMENT_COLUMNS, read_csv

BOM = b"\xef\xbb\xbf"


def test_help_explains_inputs_outputs_statuses_and_exit_codes(capsys):
    assert main(["extract", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("ZIP", "TIFF", "cells.csv", "documents.csv", ".json", "low_confidence", "missing",
                 "failed", "exit codes", "corrupt_document", "TALLYSCAN_MAX_PAGES", "--jobs"):
        assert word in text, word
    assert main(["--help"]) == 0
    assert "extract" in capsys.readouterr().out


def test_batch_with_one_bad_and_one_good_file(tmp_path, mk, fake_stages, capsys):
    good = mk.write(tmp_path / "in" / "good.pdf", mk.pdf())
    bad = mk.write(tmp_path / "in" / "bad.pdf", b"")
    out = tmp_path / "out"
    code = main(["extract", str(bad), str(good), "--out", str(out), "--jobs", "1"])
    assert code == ExitCode.some_documents_failed
    cells_raw = (out / "cells.csv").read_bytes()
    assert cells_raw.startswith(BOM)
    assert (out / "documents.csv").read_bytes().startswith(BOM)
    docs = read_csv(out / "documents.csv")
    assert list(docs[0]) == list(DOCUMENT_COLUMNS)
    assert [os.path.basename(d["file"]) for d in docs] == ["bad.pdf", "good.pdf"]  # input order
    bad_row, good_row = docs
    assert bad_row["status"] == "failed" and bad_row["error_code"] == "empty_file"
    assert "bad.pdf" in bad_row["error_message"]
    assert good_row["status"] == "done" and good_row["templates"] == "二:2021 三:2021"
    assert good_row["agency"] == "某某市统计局" and good_row["year"] == "2023" and good_row["cells_found"] == "2"
    cells = read_csv(out / "cells.csv")
    assert list(cells[0]) == list(CELL_COLUMNS)
    assert len(cells) == 2 and {os.path.basename(c["document"]) for c in cells} == {"good.pdf"}
    data = json.loads((out / "good.json").read_text(encoding="utf-8"))
    assert data["status"] == "done" and data["agency"] == "某某市统计局"
    assert not (out / "bad.json").exists()
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("2 documents, 1 pages, 2 cells, 1 flagged, 1 failed,")
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_all_failed(tmp_path, mk):
    mk.write(tmp_path / "a.pdf", b"")
    mk.write(tmp_path / "b.pdf", b"hello")
    assert main(["extract", str(tmp_path / "a.pdf"), str(tmp_path / "b.pdf"), "-o", str(tmp_path / "o"),
                 "--jobs", "1", "-q"]) == ExitCode.all_documents_failed


def test_all_done_exit_0_and_duplicate_stems(tmp_path, mk, fake_stages):
    mk.write(tmp_path / "x" / "report.pdf", mk.pdf("REPORT one"))
    mk.write(tmp_path / "y" / "report.pdf", mk.pdf("REPORT two"))
    out = tmp_path / "out"
    assert main(["extract", str(tmp_path / "x"), str(tmp_path / "y"), "--out", str(out), "-j", "1", "-q"]) == 0
    names = sorted(p.name for p in out.glob("*.json"))
    assert len(names) == 2 and all(n.startswith("report-") for n in names)


def test_pool_mode_keeps_input_order(tmp_path, mk):
    # Documents that fail before any stage runs, so the spawned workers need no fakes.
    for n in ("c", "a", "b"):
        mk.write(tmp_path / f"{n}.pdf", b"")
    out = tmp_path / "out"
    paths = [str(tmp_path / f"{n}.pdf") for n in ("c", "a", "b")]
    assert main(["extract", *paths, "--out", str(out), "--jobs", "2", "-q"]) == ExitCode.all_documents_failed
    assert [os.path.basename(r["file"]) for r in read_csv(out / "documents.csv")] == ["c.pdf", "a.pdf", "b.pdf"]


@pytest.mark.parametrize("case", ["out_is_file", "missing", "empty_dir", "jobs0", "bad_env", "no_args"])
def test_usage_errors(tmp_path, mk, monkeypatch, capsys, case):
    good = mk.write(tmp_path / "g.pdf", mk.pdf())
    out = tmp_path / "out"
    argv = ["extract", str(good), "--out", str(out)]
    if case == "out_is_file":
        out.write_text("x")
        expect = "is a file"
    elif case == "missing":
        argv[1] = str(tmp_path / "nope.pdf")
        expect = "nope.pdf"
    elif case == "empty_dir":
        (tmp_path / "empty").mkdir()
        argv[1] = str(tmp_path / "empty")
        expect = "no documents found"
    elif case == "jobs0":
        argv += ["--jobs", "0"]
        expect = "--jobs"
    elif case == "bad_env":
        monkeypatch.setenv("TALLYSCAN_MAX_PAGES", "lots")
        expect = "TALLYSCAN_MAX_PAGES"
    else:
        argv = ["extract"]
        expect = "INPUT"
    assert main(argv) == ExitCode.bad_arguments
    assert expect in capsys.readouterr().err
    if case != "out_is_file":
        assert not (out / "cells.csv").exists()


def test_unknown_engine_option_is_validated(tmp_path, mk, capsys):
    good = mk.write(tmp_path / "g.pdf", mk.pdf())
    for engine in ("no such", "tesseract"):
        assert main(["extract", str(good), "--out", str(tmp_path / "o"), "--engine", engine]) == ExitCode.bad_arguments
        assert "--engine" in capsys.readouterr().err


def test_python_m_tallyscan_help():
    proc = subprocess.run([sys.executable, "-m", "tallyscan", "extract", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "exit codes" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "tallyscan", "extract"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == ExitCode.bad_arguments


def test_interrupt_keeps_the_finished_documents(tmp_path, mk, fake_stages, monkeypatch, capsys):
    import tallyscan.pipeline as pipeline

    real = pipeline.extract_many

    def interrupted(sources, settings, jobs=None, progress=None, **kw):
        it = real(sources, settings, jobs=1)
        yield next(it)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "extract_many", interrupted)
    a = mk.write(tmp_path / "a.pdf", mk.pdf())
    b = mk.write(tmp_path / "b.pdf", mk.pdf())
    out = tmp_path / "out"
    assert main(["extract", str(a), str(b), "--out", str(out), "-q"]) == 130
    assert [os.path.basename(r["file"]) for r in read_csv(out / "documents.csv")] == ["a.pdf"]
    assert len(read_csv(out / "cells.csv")) == 2
    assert capsys.readouterr().out.startswith("interrupted: 1 documents")
