"""Run the stages over documents: one in-process, or many on a process pool.

>>> result = extract_document(source, settings)     # never raises
>>> for result in extract_many(sources, settings, jobs=8, progress=bar_update):
...     ...

Stages, per page, in order (each timed into ``DocumentResult.timings``; module
imports and building the OCR engine are not counted there, only in ``seconds``):

* text-layer page: ``textlayer.read_page`` (``layout``)
* scanned page: ``rasterise.page_image`` (``rasterise``, which also counts opening
  the file), ``scan.analyse_page`` (``layout``), ``scan.recognise_cells`` (``ocr``)

then ``snap.snap_document`` over all pages (``snap``), and
``repair.repair_cells``, which checks the sums and sets each cell's status (``repair``).

The stage modules are imported when first needed (``importlib.import_module``),
so this module imports without them and tests can substitute fakes in
``sys.modules``.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from typing import Any

from tallyscan.exceptions import (
    CorruptDocument,
    DocumentTimeout,
    EmptyFile,
    TallyscanError,
    UnsupportedFormat,
)
from tallyscan.ingest import Source, kind_of, load_bytes, sniff, unsupported_message
from tallyscan.model import DocumentResult, PageLayout
from tallyscan.settings import Settings

log = logging.getLogger(__name__)

STAGES = ("rasterise", "layout", "ocr", "snap", "repair")
INTERNAL_ERROR = "internal_error"
# A worker process is replaced after this many documents, bounding slow leaks.
MAX_TASKS_PER_CHILD = 25
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "ORT_NUM_THREADS",
)

Worker = Callable[[Source, Settings], DocumentResult]
Progress = Callable[[DocumentResult], Any]


# --------------------------------------------------------------------------- #
# One document


def extract_document(source: Source, settings: Settings | None = None) -> DocumentResult:
    """Extract one document's canonical cells. Never raises (except KeyboardInterrupt).

    Failures come back as ``status="failed"`` with ``error_code`` (the
    TallyscanError's code, or ``internal_error`` for a bug) and ``error_message``
    naming the file; a failed result holds no cells.
    """
    started = time.perf_counter()
    result = DocumentResult(
        document=source.name, sha256=source.sha256, status="failed",
        timings={k: 0.0 for k in STAGES},
    )
    doc = None
    try:
        settings = settings or Settings()
        # Import before any timer starts: the first document must not pay for cv2/MuPDF imports.
        from tallyscan.layout import rasterise  # noqa: F401
        err = source.error()
        if err is not None:
            raise err
        data = load_bytes(source, max_bytes=settings.max_file_bytes)
        result.sha256 = hashlib.sha256(data).hexdigest()
        with _timed(result, "rasterise"):
            doc = _open(data, source, settings)
        del data
        result.pages = doc.page_count
        pages = _pages(doc, settings, result)
        result.page_geometry = [
            {"page": p.page, "source": p.source, "rotation": p.rotation, "skew": round(p.skew, 4),
             "width": round(p.width, 2), "height": round(p.height, 2)} for p in pages]
        with _timed(result, "snap"):
            snap = importlib.import_module("tallyscan.postprocess.snap")
            snapped = snap.snap_document(pages)
        result.templates = dict(getattr(snapped, "templates", {}) or {})
        repair = importlib.import_module("tallyscan.postprocess.repair")  # import not timed
        with _timed(result, "repair"):
            found = {sec: v for sec, v in result.templates.items() if v != "missing"}
            outcome = repair.repair_cells(snapped.cells, found)
        result.cells = outcome.cells
        result.failed_equations = outcome.failed_equations
        result.agency = getattr(snapped, "agency", None)
        result.year = getattr(snapped, "year", None)
        result.status = "done"
    except TallyscanError as exc:
        _fail(result, exc.code, _message(source, exc))
    except Exception as exc:
        if _is_damaged_data(exc):
            log.info("%s: MuPDF could not read the file's data", source.name, exc_info=True)
            _fail(result, CorruptDocument.code,
                  f"{source.name}: the file is damaged (truncated or corrupt); re-download or re-scan it "
                  f"(MuPDF: {exc})")
        else:
            log.exception("internal error while processing %s", source.name)
            _fail(
                result, INTERNAL_ERROR,
                f"{source.name}: internal error ({type(exc).__name__}: {exc}); this is a bug in "
                "tallyscan -- please report it together with the file",
            )
    finally:
        if doc is not None:
            doc.close()
        result.seconds = round(time.perf_counter() - started, 3)
        result.timings = {k: round(v, 4) for k, v in result.timings.items()}
    return result


def extract_with_time_limit(source: Source, settings: Settings | None = None) -> DocumentResult:
    """:func:`extract_document`, failed as ``timeout`` after ``settings.soft_time_limit`` s.

    The limit is a SIGALRM, so it works in a process's main thread (the local
    pool's workers, ``--jobs 1``); elsewhere the document runs unlimited. Celery
    workers use Celery's own soft and hard limits instead.
    """
    settings = settings or Settings()
    limit = int(getattr(settings, "soft_time_limit", 0) or 0)
    if limit <= 0 or threading.current_thread() is not threading.main_thread():
        return extract_document(source, settings)

    def _expired(signum, frame):
        raise DocumentTimeout(
            f"{source.name}: took longer than {limit} s, the time limit per document; "
            f"raise {Settings.env_var('soft_time_limit')} if such documents are expected")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(limit)
    try:
        return extract_document(source, settings)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _is_damaged_data(exc: BaseException) -> bool:
    """A MuPDF error about the document's own data (bad syntax or format), raised in a stage."""
    try:
        import pymupdf
    except ImportError:  # pragma: no cover
        return False
    damaged = (pymupdf.FileDataError, pymupdf.mupdf.FzErrorFormat, pymupdf.mupdf.FzErrorSyntax)
    return isinstance(exc, damaged)


def _open(data: bytes, source: Source, settings: Settings):
    from tallyscan.layout import rasterise

    if not data:
        raise EmptyFile("the file is empty (0 bytes); re-download or re-export it")
    # The bytes decide, not the extension (nor what was seen when listing: files change).
    kind = kind_of(sniff(data[:1024]))
    if kind == "pdf":
        return rasterise.open_pdf(data, source.name, settings)
    if kind == "image":
        doc = rasterise.images_to_pdf(data, source.name, settings)
        try:
            rasterise.check_document(doc, source.name, settings)
        except Exception:
            doc.close()
            raise
        return doc
    raise UnsupportedFormat(unsupported_message(data[:1024]))


def _pages(doc, settings: Settings, result: DocumentResult) -> list[PageLayout]:
    from tallyscan.layout import rasterise

    textlayer = importlib.import_module("tallyscan.layout.textlayer")
    scan = engine = None
    digit_ratio = None  # the document's digit height, for a page with too few digits
    sideways = None  # whether the previous scanned page was turned a quarter
    pages: list[PageLayout] = []
    for index in range(doc.page_count):
        page = doc[index]
        if textlayer.has_text_layer(page):
            with _timed(result, "layout"):
                layout = textlayer.read_page(page, index)
            pages.append(layout)
            continue
        if scan is None:
            scan = importlib.import_module("tallyscan.layout.scan")
        with _timed(result, "rasterise"):
            # Colour scans stay colour: the layout stage uses the red channel to drop red seals.
            image, dpi = rasterise.page_image(page, settings, color=None)
        with _timed(result, "layout"):
            layout = scan.analyse_page(image, dpi=dpi, index=index, sideways=sideways)
            sideways = layout.rotation in (90, 270)
        try:
            if engine is None:  # built once per process (cached): not counted as OCR time
                ocr = importlib.import_module("tallyscan.ocr")
                engine = ocr.get_engine(settings.ocr_engine, settings.ocr_threads)
            with _timed(result, "ocr"):
                digit_ratio = scan.recognise_cells(layout, image, dpi=dpi, engine=engine,
                                                   digit_ratio=digit_ratio)
        finally:
            scan.release(layout)  # the page image and blobs held for OCR
        del image
        pages.append(layout)
    return pages


@contextmanager
def _timed(result: DocumentResult, stage: str):
    t = time.perf_counter()
    try:
        yield
    finally:
        result.timings[stage] = result.timings.get(stage, 0.0) + time.perf_counter() - t


def _message(source: Source, exc: TallyscanError) -> str:
    if exc.document:
        return str(exc)
    return f"{source.name}: {exc.message}"


def _fail(result: DocumentResult, code: str, message: str) -> None:
    result.status = "failed"
    result.error_code = code
    result.error_message = message
    result.cells = []  # never report part of a document
    result.templates = {}
    result.agency = None
    result.year = None


def failed_result(source: Source, code: str, message: str, seconds: float = 0.0) -> DocumentResult:
    """A failed result for ``source`` made outside :func:`extract_document`."""
    result = DocumentResult(document=source.name, sha256=source.sha256, status="failed",
                            timings={k: 0.0 for k in STAGES}, seconds=round(seconds, 3))
    _fail(result, code, message)
    return result


# --------------------------------------------------------------------------- #
# Many documents


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def extract_many(
    sources: Iterable[Source],
    settings: Settings | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    *,
    worker: Worker = extract_with_time_limit,
    max_tasks_per_child: int = MAX_TASKS_PER_CHILD,
) -> Iterator[DocumentResult]:
    """Results for ``sources``, yielded as they complete.

    ``jobs=1`` runs in this process, in order. Otherwise a pool of ``jobs``
    spawned worker processes (default: all cores) runs ``worker`` (a picklable
    module-level function; default :func:`extract_with_time_limit`). A worker process
    that dies (segfault, out-of-memory kill) fails only the document it was
    running: the documents in flight with it are re-run one per process to find
    which one it was, the pool is rebuilt and the rest continue.
    ``progress(result)`` is called for each result before it is yielded.
    """
    settings = settings or Settings()
    todo = list(sources)
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    if jobs == 1 or not todo:
        for src in todo:
            result = worker(src, settings)
            if progress is not None:
                progress(result)
            yield result
        return
    yield from _pool_run(todo, settings, min(jobs, len(todo)), progress, worker, max_tasks_per_child)


def _init_worker(threads: int, log_level: int) -> None:
    """Worker process setup: thread caps before heavy imports, Ctrl-C left to the parent."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    os.environ[Settings.env_var("ocr_threads")] = str(threads)
    with suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="%(levelname)s %(name)s [worker %(process)d]: %(message)s")
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # pragma: no cover - cv2 missing or odd build
        pass


def _new_pool(workers: int, settings: Settings, max_tasks_per_child: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(settings.ocr_threads, logging.getLogger().getEffectiveLevel()),
        max_tasks_per_child=max_tasks_per_child,
    )


def _shutdown(pool: cf.ProcessPoolExecutor, *, kill: bool) -> None:
    if kill:
        # Our own workers only; the pool keeps them in a private dict.
        for proc in list(getattr(pool, "_processes", {}).values() or []):
            if proc.is_alive():
                proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


_CRASH = (
    "{name}: the worker process died while processing this document (it ran out of memory "
    "or a native library crashed); try it alone with --jobs 1, and report it if it recurs"
)


def _pool_run(
    todo: list[Source],
    settings: Settings,
    workers: int,
    progress: Progress | None,
    worker: Worker,
    max_tasks_per_child: int,
) -> Iterator[DocumentResult]:
    pending: deque[Source] = deque(todo)
    while pending:
        pool = _new_pool(workers, settings, max_tasks_per_child)
        inflight: dict[cf.Future, tuple[Source, float]] = {}
        suspects: list[Source] = []
        clean = False
        try:
            while pending or inflight:
                while pending and len(inflight) < workers:
                    src = pending.popleft()
                    inflight[pool.submit(worker, src, settings)] = (src, time.perf_counter())
                done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
                broken = False
                for fut in done:
                    src, t0 = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.append(src)
                        continue
                    except Exception as exc:  # e.g. a result that cannot be pickled
                        log.error("%s: worker error: %r", src.name, exc)
                        result = failed_result(src, INTERNAL_ERROR,
                                               f"{src.name}: internal error in the worker ({type(exc).__name__}: "
                                               f"{exc}); please report it with the file",
                                               time.perf_counter() - t0)
                    if progress is not None:
                        progress(result)
                    yield result
                if broken:
                    # Every document still in flight is lost with the pool.
                    for fut, (src, _t0) in list(inflight.items()):
                        try:
                            result = fut.result()
                        except Exception:
                            suspects.append(src)
                            continue
                        if progress is not None:
                            progress(result)
                        yield result
                    inflight.clear()
                    break
            clean = True
        finally:
            _shutdown(pool, kill=not clean)
        if suspects:
            log.warning("a worker process died; re-running %d document(s) one per process", len(suspects))
            yield from _isolate(suspects, settings, workers, progress, worker)


def _isolate(
    suspects: list[Source],
    settings: Settings,
    workers: int,
    progress: Progress | None,
    worker: Worker,
) -> Iterator[DocumentResult]:
    """Run each suspect in its own single-use process; the one that dies again fails."""
    if len(suspects) == 1:
        # Alone in flight when the pool broke: it was the one.
        result = failed_result(suspects[0], INTERNAL_ERROR, _CRASH.format(name=suspects[0].name))
        if progress is not None:
            progress(result)
        yield result
        return
    queue = deque(suspects)
    running: dict[cf.Future, tuple[Source, cf.ProcessPoolExecutor, float]] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                src = queue.popleft()
                pool = _new_pool(1, settings, 1)
                running[pool.submit(worker, src, settings)] = (src, pool, time.perf_counter())
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                src, pool, t0 = running.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    result = failed_result(src, INTERNAL_ERROR, _CRASH.format(name=src.name), time.perf_counter() - t0)
                except Exception as exc:
                    result = failed_result(src, INTERNAL_ERROR,
                                           f"{src.name}: internal error in the worker ({type(exc).__name__}: {exc})",
                                           time.perf_counter() - t0)
                _shutdown(pool, kill=False)
                if progress is not None:
                    progress(result)
                yield result
    finally:
        for _src, pool, _t0 in running.values():
            _shutdown(pool, kill=True)
