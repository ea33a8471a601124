"""The task's own handling of Celery's soft time limit, in-process (no broker)."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

from celery.exceptions import SoftTimeLimitExceeded

from tallyscan.pipeline import failed_result
from tallyscan.settings import Settings
from tallyscan.store import Claim
from tallyscan.worker import tasks


def test_a_failure_after_the_soft_time_limit_fired_is_a_timeout(monkeypatch):
    """The limit may fire inside a stage that reports what stopped it as its
    own failure (the OCR model's loading: engine_unavailable). Once it has
    fired, the document failed for the time limit, whatever code came back."""

    def celery_soft_limit(signum, frame):  # what Celery's pool process installs
        raise SoftTimeLimitExceeded()

    def extract(source, settings):
        try:
            os.kill(os.getpid(), signal.SIGUSR1)  # the limit fires while the model loads
        except SoftTimeLimitExceeded as exc:
            return failed_result(source, "engine_unavailable", f"cannot load OCR model: {exc!r}")
        raise AssertionError("the soft limit did not fire")

    monkeypatch.setattr(tasks, "extract_document", extract)
    store = SimpleNamespace(blobs=SimpleNamespace(get=lambda sha: b"%PDF-1.4\n"))
    claim = Claim(action="run", key="k", sha256="ab" * 32, name="report.pdf")
    previous = signal.signal(signal.SIGUSR1, celery_soft_limit)
    try:
        result = tasks._extract(store, claim, Settings(soft_time_limit=7))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert result.status == "failed" and result.error_code == "timeout"
    assert "report.pdf" in result.error_message and "time limit of 7 s" in result.error_message
