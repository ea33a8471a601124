"""The store on SQLite and on a real PostgreSQL: faithful round trips, one set of cells
per document whatever happens, migrations, blobs and the crash-counting claim."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import insert, select, update

from tallyscan.model import CanonicalCell, DocumentResult
from tallyscan.settings import Settings
from tallyscan.store import (
    BlobMissing,
    DatabaseBlobs,
    FileBlobs,
    StoreUnavailable,
    document_key,
    open_store,
)
from tallyscan.store.schema import SCHEMA_VERSION, SchemaTooNew, cells, migrate, schema_version


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return open_store(f"sqlite:///{tmp_path}/store.sqlite")
    return open_store(request.getfixturevalue("pg_url"))


def make_result(name: str = "a.pdf", content: bytes = b"a", n_cells: int = 3) -> DocumentResult:
    values: list[int | float | None] = [12, 12.0, 1.25e-05, None, 0, 7]
    result = DocumentResult(
        document=name, sha256=hashlib.sha256(content).hexdigest(), status="done",
        agency="某某市统计局", year=2023, templates={"三": "2021", "二": "2019"}, pages=2,
        seconds=1.234, timings={"ocr": 0.5, "snap": 0.01},
        failed_equations=[{"id": "三.row.自然人", "equation": "a = b + c", "left": 3, "right": 4,
                           "cells": ["三|x|自然人"], "fix": {"key": "三|x|自然人", "value": 4}}],
        corrections=[{"key": "三|x|总计", "old": 1, "new": 2, "who": "li", "when": "2026-11-21",
                      "file": "review.csv"}],
    )
    for i in range(n_cells):
        result.cells.append(CanonicalCell(
            section="三", row_path=f"一、行{i}", col_path="自然人", value=values[i % len(values)],
            raw_text=str(values[i % len(values)] or "—"), confidence=0.98765 - i / 100,
            status="ok" if i % 2 == 0 else "repaired", page=i % 2, bbox=(1.5, 2.25, 30.0, 40.125),
            template="2021", alternatives=[[("1", 0.9), ("7", 0.05)], [("2", 0.99)]],
            reason="" if i % 2 == 0 else "三.row.自然人 pinned it", equations=["三.row.自然人"],
        ))
    return result


def test_result_round_trips_exactly(store):
    result = make_result(n_cells=6)
    store.save_result(result)
    (back,) = list(store.results())
    assert back.to_json() == result.to_json()
    assert [type(c.value) for c in back.cells] == [type(c.value) for c in result.cells]  # 12 vs 12.0
    assert back.failed_equations == result.failed_equations
    assert back.corrections == result.corrections


def test_saving_again_replaces_the_cells_atomically(store):
    store.save_result(make_result(n_cells=5))
    store.save_result(make_result(n_cells=5))
    smaller = make_result(n_cells=2)
    store.save_result(smaller)
    (back,) = list(store.results())
    assert len(back.cells) == 2 and back.to_json() == smaller.to_json()
    assert store.duplicate_cells() == 0


def test_a_failed_result_keeps_no_cells(store):
    store.save_result(make_result(n_cells=4))
    failed = make_result(n_cells=0)
    failed.status, failed.error_code, failed.error_message = "failed", "timeout", "a.pdf: too slow"
    store.save_result(failed)
    (back,) = list(store.results())
    assert back.status == "failed" and back.cells == [] and back.error_code == "timeout"
    assert store.counts() == {"queued": 0, "running": 0, "done": 0, "failed": 1}


def test_the_database_refuses_a_second_copy_of_a_cell(store):
    store.save_result(make_result(n_cells=1))
    key = document_key(make_result().sha256, "a.pdf")
    with store.engine.connect() as conn:
        row = conn.execute(select(cells).where(cells.c.document_key == key)).mappings().one()
    duplicate = {k: v for k, v in row.items() if k != "id"}
    with pytest.raises(Exception, match="(?i)unique"), store.engine.begin() as conn:
        conn.execute(insert(cells).values(**duplicate))


def test_concurrent_saves_of_one_document_leave_one_set_of_cells(store):
    errors: list[BaseException] = []

    def save_many() -> None:
        try:
            for _ in range(8):
                store.save_result(make_result(n_cells=6))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (back,) = list(store.results())
    assert len(back.cells) == 6 and store.duplicate_cells() == 0


def test_batches_keep_their_own_names_and_order(store):
    batch = store.new_batch("extract", ["in/"])
    store.save_result(make_result("in/b.pdf", b"b"), batch)
    store.save_result(make_result("in/a.pdf", b"a"), batch)
    other = store.new_batch("extract", ["copy/"])
    store.save_result(make_result("copy/a-again.pdf", b"a"), other)
    assert [r.document for r in store.results(batch)] == ["in/b.pdf", "in/a.pdf"]
    assert [r.document for r in store.results(other)] == ["copy/a-again.pdf"]
    assert len(list(store.results())) == 2  # one document per content
    assert store.check_batch(batch) == batch
    with pytest.raises(Exception, match="no batch 'nope'"):
        store.check_batch("nope")


def test_migration_runs_once_and_refuses_a_newer_schema(store):
    assert migrate(store.engine) == SCHEMA_VERSION  # already current: nothing to do
    with store.engine.begin() as conn:
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(SchemaTooNew, match="upgrade tallyscan"):
        migrate(store.engine)


def test_claim_counts_crashes_and_fails_a_poison_document(store):
    batch = store.new_batch("submit", ["x"])
    sha = hashlib.sha256(b"x").hexdigest()
    store.register(batch, key=sha, sha256=sha, name="x.pdf", size=1, fmt="pdf")
    kw = dict(worker="w:1", max_crashes=3, live_window=3600)
    assert store.claim(sha, task_id="t1", retries=0, **kw).action == "run"
    # another message for the same document while the first attempt is alive: dropped
    assert store.claim(sha, task_id="t2", retries=0, **kw).action == "busy"
    # a clean retry of the same message (store was down) is not a crash
    assert store.claim(sha, task_id="t1", retries=1, **kw).crashes == 0
    # the same delivery again: its previous attempt died with its worker
    first = store.claim(sha, task_id="t1", retries=1, **kw)
    second = store.claim(sha, task_id="t1", retries=1, **kw)
    assert (first.action, first.crashes, second.action, second.crashes) == ("run", 1, "run", 2)
    poison = store.claim(sha, task_id="t1", retries=1, **kw)
    assert (poison.action, poison.crashes) == ("poison", 3)
    row = store.document(sha)
    assert row.state == "failed" and row.error_code == "worker_lost"
    assert "killed its worker process 3 times" in row.error_message and "x.pdf" in row.error_message
    assert store.claim(sha, task_id="t3", retries=0, **kw).action == "finished"


def test_register_reports_known_documents_and_reprocess(store):
    sha = hashlib.sha256(b"y").hexdigest()
    b1 = store.new_batch("submit", ["y"])
    assert store.register(b1, key=sha, sha256=sha, name="y.pdf", size=1, fmt="pdf") == "queued"
    assert store.register(b1, key=sha, sha256=sha, name="y.pdf", size=1, fmt="pdf") == "known"
    store.save_result(make_result("y.pdf", b"y"))
    b2 = store.new_batch("submit", ["y"])
    assert store.register(b2, key=sha, sha256=sha, name="y2.pdf", size=1, fmt="pdf") == "known"
    b3 = store.new_batch("submit", ["y"])
    assert store.register(b3, key=sha, sha256=sha, name="y.pdf", size=1, fmt="pdf",
                          reprocess=True) == "queued"
    assert store.document(sha).state == "queued"


def test_unreadable_documents_are_keyed_by_name():
    assert document_key("ab" * 32, "x") == "ab" * 32
    key = document_key("", "archive.zip!a.pdf")
    assert key.startswith("unread:") and key != document_key("", "archive.zip!b.pdf")


def test_unreachable_database_is_a_transient_error_naming_the_store():
    with pytest.raises(StoreUnavailable) as info:
        open_store("postgresql://postgres@127.0.0.1:1/nowhere")
    assert info.value.transient and "127.0.0.1:1/nowhere" in str(info.value)
    assert "TALLYSCAN_DATABASE_URL" in str(info.value)


def test_open_store_defaults_to_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TALLYSCAN_DATA_DIR", str(tmp_path / "data"))
    store = open_store()
    assert store.url == f"sqlite:///{tmp_path}/data/tallyscan.sqlite"
    assert isinstance(store.blobs, FileBlobs) and store.blobs.root == tmp_path / "data" / "blobs"


@pytest.mark.parametrize("kind", ["files", "database"])
def test_blobs_are_content_addressed_and_verified(kind, tmp_path, pg_url):
    store = open_store(pg_url, Settings(blob_store=kind, store_dir=str(tmp_path / "blobs")))
    blobs = store.blobs
    assert isinstance(blobs, FileBlobs if kind == "files" else DatabaseBlobs)
    data = b"%PDF-1.7 some bytes"
    sha = blobs.put(data)
    assert sha == hashlib.sha256(data).hexdigest() and blobs.put(data) == sha
    assert blobs.has(sha) and blobs.get(sha) == data
    missing = hashlib.sha256(b"other").hexdigest()
    assert not blobs.has(missing)
    with pytest.raises(BlobMissing, match="--reprocess"):
        blobs.get(missing)
    if kind == "files":
        path = blobs.path(sha)
        path.chmod(0o644)
        path.write_bytes(b"tampered")
        with pytest.raises(BlobMissing, match="damaged"):
            blobs.get(sha)
