"""The document task: a thin orchestrator of ordered stages.

claim (in the store, counting the attempt) -> fetch the stored bytes ->
``extract_document`` -> save the result (one transaction). Its only argument is
the document key (the sha256 of its bytes), so messages are small and JSON-safe.

Errors: the pipeline never raises (a bad document comes back as a failed
result and is stored as such). A transient error -- the store unreachable --
is retried with exponential backoff; anything else that escapes, and the hard
time limit (handled in the worker's main process), fails the document through
:meth:`DocumentTask.on_failure`, so no document is left ``running``.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Task, bootsteps
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import worker_init, worker_process_init

from tallyscan.exceptions import DocumentTimeout, TallyscanError
from tallyscan.ingest import Source, kind_of, sniff
from tallyscan.model import DocumentResult
from tallyscan.pipeline import INTERNAL_ERROR, THREAD_ENV_VARS, extract_document, failed_result
from tallyscan.settings import Settings
from tallyscan.store import BlobMissing, Claim, Store, open_store
from tallyscan.worker import dispatch, faults
from tallyscan.worker.app import TASK_NAME, app

log = logging.getLogger(__name__)

# Imported by the worker before it forks its pool (the OCR engine itself is built
# per pool process, on its first scanned page).
PRELOADED_MODULES = ("tallyscan.layout.rasterise", "tallyscan.layout.textlayer",
                     "tallyscan.layout.scan", "tallyscan.postprocess.snap", "tallyscan.ocr")


def backoff(retries: int, cap: int) -> int:
    """Seconds before retry number ``retries + 1``: 2, 4, 8 ... up to ``cap``."""
    return int(min(cap, 2 ** (retries + 1)))


class DocumentTask(Task):
    """Records failures that escape the task body as the document's outcome."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # type: ignore[no-untyped-def]
        # Runs in the pool process for exceptions, and in the worker's main
        # process when the hard time limit killed the pool process.
        key = args[0] if args else kwargs.get("document_key")
        if not key:
            return
        settings = Settings.from_env()
        if isinstance(exc, TallyscanError) and exc.transient:
            log.error("document %s: giving up after %d retries (%s); it stays in the store and "
                      "is sent again by `tallyscan submit --requeue`", key[:12],
                      self.request.retries, exc)
            return
        try:
            store = open_store(settings=settings)
            row = store.document(key)
            name = row.name if row is not None else key
            if isinstance(exc, TimeLimitExceeded):
                code = DocumentTimeout.code
                message = _timeout_message(name, settings, hard=True)
            else:
                code = INTERNAL_ERROR
                message = (f"{name}: internal error in the worker ({type(exc).__name__}: {exc}); "
                           "this is a bug in tallyscan -- please report it with the file")
            store.mark_failed(key, code, message, task_id=task_id)
        except TallyscanError as store_exc:
            log.error("document %s: could not record its failure (%s): %s", key[:12], exc, store_exc)


@app.task(bind=True, base=DocumentTask, name=TASK_NAME)
def process_document(self: DocumentTask, document_key: str) -> str:
    """Process one stored document; returns what happened (done, failed, finished, busy ...)."""
    settings = Settings.from_env()
    try:
        return _process(self, document_key, settings)
    except TallyscanError as exc:
        if not exc.transient:
            raise
        delay = backoff(self.request.retries, settings.retry_backoff_max)
        log.warning("document %s: %s; retrying in %d s", document_key[:12], exc, delay)
        raise self.retry(exc=exc, countdown=delay, max_retries=settings.store_retries) from exc


def _process(task: Task, key: str, settings: Settings) -> str:
    store = open_store(settings=settings)
    claim = store.claim(
        key, task_id=task.request.id, retries=task.request.retries or 0,
        worker=f"{task.request.hostname}:{os.getpid()}", max_crashes=settings.max_crashes,
        live_window=dispatch.live_window(settings),
    )
    if claim.action != "run":
        log.info("document %s: %s, nothing to do", key[:12], claim.action)
        return claim.action
    result = _extract(store, claim, settings)
    store.save_result(result)
    return result.status


def _extract(store: Store, claim: Claim, settings: Settings) -> DocumentResult:
    with _soft_limit_watch() as fired:
        try:
            faults.inject(claim.sha256)  # TEST-ONLY: a no-op unless TALLYSCAN_TEST_FAULTS names it
            data = store.blobs.get(claim.sha256)
            with tempfile.TemporaryDirectory(prefix="tallyscan-") as tmp:
                path = Path(tmp) / "document"
                path.write_bytes(data)
                fmt = sniff(data[:1024])
                source = Source(name=claim.name, path=str(path), kind=kind_of(fmt),
                                sha256=claim.sha256, size=len(data), format=fmt)
                del data
                result = extract_document(source, settings)
        except SoftTimeLimitExceeded:
            return _timed_out(claim, settings)
        except BlobMissing as exc:
            source = Source(name=claim.name, path="", kind="unknown", sha256=claim.sha256)
            return failed_result(source, exc.code, f"{claim.name}: {exc.message}")
    if fired[0] and result.status == "failed":
        # The pipeline turned the soft time limit into a failure of the stage it
        # stopped (an internal error; engine_unavailable if it stopped the OCR
        # model loading): it is a timeout.
        return _timed_out(claim, settings, seconds=result.seconds)
    return result


def _timed_out(claim: Claim, settings: Settings, seconds: float = 0.0) -> DocumentResult:
    source = Source(name=claim.name, path="", kind="unknown", sha256=claim.sha256)
    message = _timeout_message(claim.name, settings, hard=False)
    return failed_result(source, DocumentTimeout.code, message, seconds or settings.soft_time_limit)


def _timeout_message(name: str, settings: Settings, *, hard: bool) -> str:
    limit = settings.hard_time_limit if hard else settings.soft_time_limit
    var = Settings.env_var("hard_time_limit" if hard else "soft_time_limit")
    return (f"{name}: processing took longer than the {'hard ' if hard else ''}time limit of "
            f"{limit} s and was stopped; if the document is genuinely large, raise {var} "
            "(and restart the workers)")


@contextmanager
def _soft_limit_watch() -> Iterator[list[bool]]:
    """Notes whether Celery's soft time limit (SIGUSR1 in the pool process) fired,
    since the pipeline reports any exception raised inside it as an internal error."""
    fired = [False]
    sig = getattr(signal, "SIGUSR1", None)
    try:
        previous = signal.getsignal(sig) if sig is not None else None
    except ValueError:
        previous = None
    if sig is None or not callable(previous):
        yield fired
        return

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        fired[0] = True
        previous(signum, frame)

    try:
        signal.signal(sig, handler)
    except ValueError:  # not the main thread (threads pool): no soft limit there
        yield fired
        return
    try:
        yield fired
    finally:
        signal.signal(sig, previous)


# --------------------------------------------------------------------------- #
# Worker process setup and the lost-message sweep


@worker_init.connect
def _prepare_worker(**_kwargs: object) -> None:
    """In the worker's main process, before the pool forks: cap the threads each pool
    process's OpenCV/ONNX Runtime may use (one process per core), and import the
    pipeline's stages once, so no pool process pays for the imports per document."""
    threads = str(Settings.from_env().ocr_threads)
    for var in THREAD_ENV_VARS:
        os.environ.setdefault(var, threads)
    for module in PRELOADED_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # the document that needs it reports the problem
            log.warning("could not preload %s: %s", module, exc)


@worker_process_init.connect
def _limit_cv2_threads(**_kwargs: object) -> None:
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(Settings.from_env().ocr_threads)


class LostMessageSweep(bootsteps.StartStopStep):
    """Re-sends documents whose message was lost: when the worker (re)connects to the
    broker, and every TALLYSCAN_SWEEP_INTERVAL seconds (see tallyscan.worker.dispatch)."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(parent, **kwargs)
        self.tref = None

    def start(self, consumer) -> None:  # type: ignore[no-untyped-def]
        settings = Settings.from_env()
        self.sweep()
        self.tref = consumer.timer.call_repeatedly(settings.sweep_interval, self.sweep, priority=10)

    def stop(self, consumer) -> None:  # type: ignore[no-untyped-def]
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def sweep(self) -> None:
        try:
            settings = Settings.from_env()
            dispatch.resend_lost(open_store(settings=settings), settings)
        except TallyscanError as exc:
            log.warning("lost-message sweep skipped: %s", exc)
        except Exception:
            log.exception("lost-message sweep failed")


app.steps["consumer"].add(LostMessageSweep)
