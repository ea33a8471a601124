"""The service commands in process, on the default SQLite store: extract saves to the store,
status counts and lists failures, export writes the three tables in every format."""

from __future__ import annotations

import json

import pytest

from tallyscan.cli import main
from tallyscan.exceptions import ExitCode
from tallyscan.export import read_csv
from tallyscan.service_cli import EXIT_SERVICE_UNAVAILABLE, wide_table
from tallyscan.store import open_store

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def extracted(tmp_path, mk, fake_stages, capsys):
    """`tallyscan extract` of one good and one bad document; returns (batch, extract out dir)."""
    mk.write(tmp_path / "in" / "good.pdf", mk.pdf())
    mk.write(tmp_path / "in" / "bad.pdf", b"not a pdf at all, just words")
    out = tmp_path / "extract"
    assert main(["extract", str(tmp_path / "in"), "--out", str(out), "-j", "1", "-q"]) == \
        ExitCode.some_documents_failed
    err = capsys.readouterr().err
    assert "store: 2 documents saved to sqlite:///" in err
    batch = err.split("as batch ")[1].split()[0]
    return batch, out


def test_extract_saves_its_results_to_the_store(extracted, _isolated_store):
    batch, out = extracted
    store = open_store()
    assert store.url == f"sqlite:///{_isolated_store}/tallyscan.sqlite"
    results = {r.document.rsplit("/", 1)[1]: r for r in store.results(batch)}
    assert results["good.pdf"].status == "done" and len(results["good.pdf"].cells) == 2
    assert results["bad.pdf"].error_code == "unsupported_format"
    on_disk = json.loads((out / "good.json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(results["good.pdf"].to_json())) == on_disk


def test_extract_no_store_leaves_the_store_alone(tmp_path, mk, fake_stages, _isolated_store):
    mk.write(tmp_path / "a.pdf", mk.pdf())
    assert main(["extract", str(tmp_path / "a.pdf"), "--out", str(tmp_path / "o"), "-j", "1",
                 "-q", "--no-store"]) == 0
    assert not (_isolated_store / "tallyscan.sqlite").exists()


def test_status_counts_and_lists_failures(extracted, capsys):
    batch, _ = extracted
    assert main(["status", batch]) == ExitCode.some_documents_failed
    out = capsys.readouterr().out
    assert f"batch {batch}: 2 documents" in out
    assert "[" + "#" * 30 + "] 2/2 finished (100%)" in out
    assert "queued 0  running 0  done 1  failed 1" in out
    assert "bad.pdf  [unsupported_format]" in out and "not a PDF" in out
    assert main(["status"]) == ExitCode.some_documents_failed
    assert f"{batch}  extract 2 documents" in capsys.readouterr().out


def test_status_watch_returns_once_everything_finished(extracted, capsys):
    batch, _ = extracted
    assert main(["status", batch, "--watch", "--interval", "0.2"]) == ExitCode.some_documents_failed
    assert "2/2 finished" in capsys.readouterr().out


def test_unknown_batch_is_a_usage_error(extracted, capsys):
    assert main(["status", "no-such-batch"]) == ExitCode.bad_arguments
    err = capsys.readouterr().err
    assert "no batch 'no-such-batch'" in err and extracted[0] in err  # lists the recent ones
    assert main(["export", "no-such-batch", "--out", "x"]) == ExitCode.bad_arguments


def test_export_csv_equals_what_extract_wrote(extracted, tmp_path):
    batch, out = extracted
    assert main(["export", batch, "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "cells.csv").read_bytes() == (out / "cells.csv").read_bytes()
    docs = read_csv(tmp_path / "csv" / "documents.csv")
    assert [d["status"] for d in docs] == [d["status"] for d in read_csv(out / "documents.csv")]
    wide_raw = (tmp_path / "csv" / "wide.csv").read_bytes()
    assert wide_raw.startswith(BOM)
    (row,) = read_csv(tmp_path / "csv" / "wide.csv")
    assert row["row_path"] == "一、本年新收政府信息公开申请数量" and row["总计"] == "12"
    assert row["document"].endswith("good.pdf") and row["year"] == "2023"


def test_export_json_parquet_xlsx_keep_numbers_as_numbers(extracted, tmp_path):
    batch, _ = extracted
    assert main(["export", batch, "-f", "json", "--out", str(tmp_path / "j")]) == 0
    cells = json.loads((tmp_path / "j" / "cells.json").read_text(encoding="utf-8"))
    assert [c["value"] for c in cells] == [12, 1.25e-05]
    assert isinstance(cells[0]["value"], int) and cells[0]["page"] == 1
    wide = json.loads((tmp_path / "j" / "wide.json").read_text(encoding="utf-8"))
    assert wide[0]["总计"] == 12
    documents = json.loads((tmp_path / "j" / "documents.json").read_text(encoding="utf-8"))
    assert sorted(d["status"] for d in documents) == ["done", "failed"]

    import pyarrow.parquet as pq

    assert main(["export", batch, "-f", "parquet", "--out", str(tmp_path / "p")]) == 0
    table = pq.read_table(tmp_path / "p" / "cells.parquet")
    assert table.column("value").to_pylist() == [12.0, 1.25e-05]
    assert str(table.schema.field("value").type) == "double"
    assert pq.read_table(tmp_path / "p" / "wide.parquet").column("总计").to_pylist() == [12]
    assert pq.read_table(tmp_path / "p" / "documents.parquet").num_rows == 2

    from openpyxl import load_workbook

    assert main(["export", batch, "-f", "xlsx", "--out", str(tmp_path / "x" / "book.xlsx")]) == 0
    book = load_workbook(tmp_path / "x" / "book.xlsx", read_only=True)
    assert book.sheetnames == ["cells", "wide", "documents"]
    rows = list(book["cells"].iter_rows(values_only=True))
    assert rows[0][:3] == ("document", "sha256", "agency") and rows[1][8] == 12
    assert main(["export", batch, "-f", "xlsx", "--out", str(tmp_path / "x2")]) == 0
    assert (tmp_path / "x2" / "tallyscan.xlsx").is_file()


def test_wide_table_has_one_column_per_applicant_type(extracted):
    batch, _ = extracted
    columns, rows = wide_table(list(open_store().results(batch)))
    assert columns == ["document", "sha256", "agency", "year", "template", "row_path", "总计"]
    assert len(rows) == 1 and rows[0][-1] == 12


def test_submit_with_the_store_unreachable_exits_75(tmp_path, mk, monkeypatch, capsys):
    mk.write(tmp_path / "a.pdf", mk.pdf())
    monkeypatch.setenv("TALLYSCAN_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    assert main(["submit", str(tmp_path / "a.pdf")]) == EXIT_SERVICE_UNAVAILABLE
    err = capsys.readouterr().err
    assert "127.0.0.1:1/none cannot be reached" in err


def test_submit_usage_errors(tmp_path, capsys):
    assert main(["submit"]) == ExitCode.bad_arguments
    assert "nothing to submit" in capsys.readouterr().err
    assert main(["submit", str(tmp_path / "missing.pdf")]) == ExitCode.bad_arguments
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["submit", str(tmp_path)]) == ExitCode.bad_arguments
    assert "no documents found" in capsys.readouterr().err


def test_worker_command_builds_the_celery_command_line(monkeypatch):
    import argparse

    from tallyscan.service_cli import worker_argv
    from tallyscan.settings import Settings

    args = argparse.Namespace(concurrency=2, hostname=None, loglevel="INFO",
                              celery_args=["--", "--max-memory-per-child", "2000000"])
    argv = worker_argv(args, Settings(queue="reports"))
    assert argv[:7] == ["worker", "--loglevel", "INFO", "-Q", "reports", "--concurrency", "2"]
    assert argv[-2:] == ["--max-memory-per-child", "2000000"]


def test_celery_app_has_the_reliability_settings():
    from tallyscan.worker import app

    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit > conf.task_soft_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
