"""Fault tests of the service with a real Redis, a real PostgreSQL and real Celery workers.

Slow documents and crashing documents are made with the TEST-ONLY fault hook
(tallyscan.worker.faults, TALLYSCAN_TEST_FAULTS naming a document's sha256);
everything else -- broker, store, worker processes, signals -- is real.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import psycopg

from tallyscan.cli import main
from tallyscan.ingest import expand_inputs
from tallyscan.pipeline import extract_document
from tallyscan.service_cli import EXIT_SERVICE_UNAVAILABLE
from tallyscan.settings import Settings


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_cells(path: Path) -> list[dict]:
    """What `tallyscan extract` finds in this file, in process."""
    (source,) = expand_inputs([path], Settings())
    result = extract_document(source, Settings())
    assert result.status == "done", result.error_message
    return result.to_json()["cells"]


def assert_one_correct_set_of_cells(service, path: Path) -> None:
    result = service.store.result(sha(path))
    assert result is not None and result.status == "done", result
    assert result.to_json()["cells"] == expected_cells(path)
    assert service.store.duplicate_cells() == 0


def test_pool_process_killed_mid_document_is_redone_once(service, synth_reports, tmp_path):
    slow, *others = synth_reports(3, start=0, into=tmp_path / "in")
    worker = service.start_worker(concurrency=1, faults={sha(slow): "sleep:4"})
    batch = service.submit(str(tmp_path / "in"))
    _node, pid = service.running_on(sha(slow))
    assert pid in worker.children()
    os.kill(pid, signal.SIGKILL)  # kill -9 of the pool process, mid-document

    counts = service.wait_finished(batch, 3, timeout=120)
    assert counts == {"queued": 0, "running": 0, "done": 3, "failed": 0}
    row = service.store.document(sha(slow))
    assert (row.attempts, row.crashes) == (2, 1)
    for path in (slow, *others):
        assert_one_correct_set_of_cells(service, path)


def test_whole_worker_killed_mid_document_is_finished_by_another(service, synth_reports, tmp_path):
    # A short visibility timeout so the broker hands the message out again soon.
    service.set_env(TALLYSCAN_SOFT_TIME_LIMIT="6", TALLYSCAN_HARD_TIME_LIMIT="8",
                    TALLYSCAN_VISIBILITY_TIMEOUT="10")
    (doc,) = synth_reports(1, start=10, into=tmp_path / "in")
    faults = {sha(doc): "sleep:3"}
    first = service.start_worker(concurrency=1, faults=faults)
    second = service.start_worker(concurrency=1, faults=faults)
    batch = service.submit(str(doc))
    node, _pid = service.running_on(sha(doc))
    victim, survivor = (first, second) if node.startswith(first.name) else (second, first)
    victim.kill_all()  # kill -9 of the main process and its pool

    counts = service.wait_finished(batch, 1, timeout=120)
    assert counts["done"] == 1
    row = service.store.document(sha(doc))
    assert row.worker.startswith(survivor.name)
    assert (row.attempts, row.crashes) == (2, 1)
    assert_one_correct_set_of_cells(service, doc)


def test_poison_document_is_failed_after_bounded_attempts(service, synth_reports, tmp_path):
    poison, *good = synth_reports(4, start=20, into=tmp_path / "in")
    service.start_worker(concurrency=2, faults={sha(poison): "kill"})
    batch = service.submit(str(tmp_path / "in"))

    counts = service.wait_finished(batch, 4, timeout=120)
    assert counts == {"queued": 0, "running": 0, "done": 3, "failed": 1}
    row = service.store.document(sha(poison))
    assert row.error_code == "worker_lost" and row.crashes == Settings().max_crashes == 3
    assert row.attempts == 3
    assert poison.name in row.error_message and "killed its worker process 3 times" in row.error_message
    failures = service.store.failures(batch)
    assert [f.error_code for f in failures] == ["worker_lost"]
    for path in good:
        assert_one_correct_set_of_cells(service, path)


def test_redis_restart_with_documents_queued_loses_nothing(service, synth_reports, tmp_path):
    docs = synth_reports(24, start=40, into=tmp_path / "in")
    service.start_worker(concurrency=1, faults={sha(p): "sleep:0.5" for p in docs})
    batch = service.submit(str(tmp_path / "in"))
    service.wait_until(lambda: service.store.counts(batch)["done"] >= 3, 60, "the first documents")
    assert service.redis.queue_length(service.queue) > 5

    service.redis.client().set("tallyscan-test:before-restart", "1")
    service.redis.restart()  # no persistence: every queued message is gone
    # Checked by a key set before the restart, not by the queue's length: the
    # worker, reconnecting, may already be re-sending what the store holds queued.
    assert service.redis.client().get("tallyscan-test:before-restart") is None
    counts = service.wait_finished(batch, 24, timeout=180)
    assert counts == {"queued": 0, "running": 0, "done": 24, "failed": 0}
    assert service.store.duplicate_cells() == 0
    assert {r.document for r in service.store.results(batch)} == {str(p) for p in docs}
    for path in docs[::6]:
        assert_one_correct_set_of_cells(service, path)


def test_submit_while_the_broker_is_down_is_sent_when_it_is_back(service, synth_reports, tmp_path,
                                                                 capsys):
    docs = synth_reports(3, start=70, into=tmp_path / "in")
    service.redis.stop()
    assert main(["submit", "-q", str(tmp_path / "in")]) == EXIT_SERVICE_UNAVAILABLE
    captured = capsys.readouterr()
    batch = captured.out.strip().splitlines()[-1]
    assert "cannot be reached" in captured.err and "--requeue" in captured.err
    assert service.store.counts(batch)["queued"] == 3  # stored, waiting for the broker

    service.redis.start()
    service.start_worker(concurrency=1)  # on connecting, it re-sends what the broker lacks
    counts = service.wait_finished(batch, 3, timeout=120)
    assert counts["done"] == 3
    for path in docs:
        assert_one_correct_set_of_cells(service, path)


def _admin(pg_url: str) -> psycopg.Connection:
    return psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)


def test_store_unavailable_for_a_while_is_retried_with_backoff(service, synth_reports, tmp_path,
                                                               pg_url):
    docs = synth_reports(3, start=80, into=tmp_path / "in")
    worker = service.start_worker(concurrency=1, faults={sha(p): "sleep:3" for p in docs})
    batch = service.submit(str(tmp_path / "in"))
    service.running_on(sha(docs[0]))
    database = pg_url.rsplit("/", 1)[1]
    with _admin(pg_url) as admin:
        # The database goes away: no new connections, and the open ones are cut.
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                      (database,))
        service.wait_until(lambda: "retrying in" in worker.output(), 60, "the task to retry")
        time.sleep(6)
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    counts = service.wait_finished(batch, 3, timeout=180)
    assert counts == {"queued": 0, "running": 0, "done": 3, "failed": 0}
    assert "store_unavailable" in worker.output() or "cannot be reached" in worker.output()
    first = service.store.document(sha(docs[0]))
    assert first.attempts >= 2 and first.crashes == 0  # retried, not counted as a crash
    for path in docs:
        assert_one_correct_set_of_cells(service, path)


def test_soft_and_hard_time_limits_fail_the_document(service, synth_reports, tmp_path):
    import pymupdf

    from tallyscan.synth import make_report

    # 2 s: a born-digital report takes a fraction of that, on a slow machine too.
    service.set_env(TALLYSCAN_SOFT_TIME_LIMIT="2", TALLYSCAN_HARD_TIME_LIMIT="5")
    slow, hung, quick = synth_reports(3, start=90, into=tmp_path / "in")
    scan = tmp_path / "in" / "scan.pdf"
    merged = pymupdf.open()
    # Six scanned reports in one file (~18 pages): really takes > 2 s, even
    # when the machine runs fast (three reports once finished inside it).
    for seed in range(95, 101):
        merged.insert_pdf(pymupdf.open(stream=make_report(seed, kind="scan", level="clean")[0]))
    scan.write_bytes(merged.tobytes())
    service.start_worker(concurrency=2, faults={sha(slow): "sleep:30", sha(hung): "hang:30"})
    batch = service.submit(str(tmp_path / "in"))

    counts = service.wait_finished(batch, 4, timeout=120)
    errors = {p.name: service.store.document(sha(p)).error_message for p in (slow, hung, quick, scan)}
    assert counts["failed"] == 3 and counts["done"] == 1, errors
    soft = service.store.document(sha(slow))
    assert soft.error_code == "timeout" and "time limit of 2 s" in soft.error_message
    assert "TALLYSCAN_SOFT_TIME_LIMIT" in soft.error_message and slow.name in soft.error_message
    hard = service.store.document(sha(hung))
    assert hard.error_code == "timeout" and "hard time limit of 5 s" in hard.error_message
    scanned = service.store.document(sha(scan))
    assert scanned.error_code == "timeout", scanned.error_message
    assert_one_correct_set_of_cells(service, quick)


def test_resubmitting_is_known_and_reprocess_runs_it_again(service, synth_reports, tmp_path, capsys):
    docs = synth_reports(2, start=100, into=tmp_path / "in")
    service.start_worker(concurrency=1, via="tallyscan")
    first = service.submit(str(tmp_path / "in"))
    service.wait_finished(first, 2, timeout=60)
    capsys.readouterr()

    again = service.submit(str(tmp_path / "in"))
    assert "2 documents -- 0 queued, 2 already known" in capsys.readouterr().err
    assert service.store.counts(again) == {"queued": 0, "running": 0, "done": 2, "failed": 0}

    redo = service.submit("--reprocess", str(docs[0]))
    service.wait_finished(redo, 1, timeout=60)
    row = service.store.document(sha(docs[0]))
    assert row.state == "done" and row.attempts == 1  # counters restart with the new request
    for path in docs:
        assert_one_correct_set_of_cells(service, path)


def test_workers_need_only_the_broker_and_the_database(service, synth_reports, tmp_path):
    """With TALLYSCAN_BLOB_STORE=database the worker has no access to the submitter's files."""
    docs = synth_reports(2, start=110, into=tmp_path / "in")
    service.set_env(TALLYSCAN_BLOB_STORE="database")
    service.start_worker(concurrency=1, env={"TALLYSCAN_STORE_DIR": str(tmp_path / "nowhere"),
                                             "TALLYSCAN_DATA_DIR": str(tmp_path / "elsewhere")})
    batch = service.submit(str(tmp_path / "in"))
    for path in docs:
        path.unlink()  # the worker must use the stored bytes
    assert service.wait_finished(batch, 2, timeout=60)["done"] == 2
    assert not (tmp_path / "nowhere").exists()
