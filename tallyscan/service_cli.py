"""The service commands: ``submit``, ``worker``, ``status`` and ``export`` (issue 4).

Registered in :data:`tallyscan.cli.COMMANDS` through :data:`SERVICE_COMMANDS`.
Also :class:`ExtractStore`, the small hook that makes ``tallyscan extract``
save its results to the same store.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tallyscan.exceptions import ExitCode, InputError, TallyscanError
from tallyscan.export import (
    CELL_COLUMNS,
    DOCUMENT_COLUMNS,
    format_bbox,
    format_page,
    format_templates,
    write_atomic,
    write_cells_csv,
    write_csv,
    write_documents_csv,
)
from tallyscan.ingest import INPUT_EXTENSIONS, expand_inputs, load_bytes
from tallyscan.model import DocumentResult
from tallyscan.settings import Settings

# sysexits.h EX_TEMPFAIL: the store or the broker cannot be reached; try again later.
EXIT_SERVICE_UNAVAILABLE = ExitCode.service_unavailable
WIDE_SECTION = "三"
FORMATS = ("csv", "xlsx", "parquet", "json")

SERVICE_EXIT_CODES = f"""\
exit codes:
  {ExitCode.ok:<3} done
  {ExitCode.bad_arguments:<3} usage error: bad option, missing input path, unknown batch, bad TALLYSCAN_* setting
  {ExitCode.some_documents_failed:<3} (status) some documents of the batch failed
  {ExitCode.all_documents_failed:<3} (status) every document of the batch failed
  {EXIT_SERVICE_UNAVAILABLE:<3} the store or the broker cannot be reached (nothing submitted is lost:
      stored documents are sent once the broker is back)
"""

SERVICE_ENV = """\
environment:
  TALLYSCAN_DATABASE_URL   store (default: SQLite file in TALLYSCAN_DATA_DIR); e.g.
                           postgresql://tallyscan@db-host:5432/tallyscan
  TALLYSCAN_BROKER_URL     Celery broker (default redis://localhost:6379/0)
  TALLYSCAN_BLOB_STORE     'files' (TALLYSCAN_STORE_DIR) or 'database'
  ... and every other TALLYSCAN_* limit: see 'tallyscan extract --help'
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _err(message: str) -> None:
    print(f"tallyscan: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    from tallyscan.store import open_store

    return open_store(settings=settings)


def _service_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Unreachable store or broker -> exit 75 with the reason; unknown batch -> usage error."""

    def run(args: argparse.Namespace) -> int:
        from tallyscan.store import UnknownBatch

        try:
            return command(args)
        except UnknownBatch as exc:
            _err(str(exc))
            return ExitCode.bad_arguments
        except TallyscanError as exc:
            if not exc.transient:
                raise
            _err(str(exc))
            return EXIT_SERVICE_UNAVAILABLE

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


def _bar(total: int, desc: str, *, quiet: bool = False):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    disable = quiet or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(total=total, unit="doc", file=sys.stderr, disable=disable, dynamic_ncols=True,
                desc=desc, leave=False)


# --------------------------------------------------------------------------- #
# submit


SUBMIT_DESCRIPTION = """\
Queue documents for the workers. Each document's bytes are stored first
(content-addressed by sha256), then recorded in the store, then one task per
document is sent to the broker. Prints the batch id on stdout; follow it with
'tallyscan status BATCH --watch' and fetch the data with 'tallyscan export BATCH'.

A document already in the store (same bytes, under any name) is reported as
already known and not processed again, unless --reprocess. Documents that
cannot be read at all (empty, not a PDF or image, unsafe or oversized ZIP) are
recorded as failed at once, with the reason.
"""


def add_submit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="queue PDFs/images/folders/ZIPs for the workers",
                       description=SUBMIT_DESCRIPTION, epilog=SERVICE_EXIT_CODES + "\n" + SERVICE_ENV,
                       formatter_class=_Formatter)
    p.add_argument("inputs", nargs="*", metavar="PATH",
                   help="PDF, PNG, JPEG or TIFF file, directory, or ZIP archive")
    p.add_argument("--reprocess", action="store_true",
                   help="process documents again even if the store already has them")
    p.add_argument("--requeue", action="store_true",
                   help="also send again every document still queued (after a broker outage)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_submit)


@_service_errors
def cmd_submit(args: argparse.Namespace) -> int:
    from tallyscan.pipeline import failed_result
    from tallyscan.store import BrokerUnavailable, document_key
    from tallyscan.worker import dispatch

    if not args.inputs and not args.requeue:
        _err("nothing to submit: name PDFs, images, folders or ZIP archives (or use --requeue)")
        return ExitCode.bad_arguments
    missing = [p for p in args.inputs if not os.path.lexists(p)]
    if missing:
        _err("no such file or directory: " + ", ".join(missing))
        return ExitCode.bad_arguments
    settings = Settings.from_env()
    sources = expand_inputs(args.inputs, settings) if args.inputs else []
    if args.inputs and not sources:
        _err(f"no documents found in the inputs (looked for files ending in "
             f"{', '.join(sorted(INPUT_EXTENSIONS))})")
        return ExitCode.bad_arguments
    store = _open(settings)
    broker_error: BrokerUnavailable | None = None
    try:
        resent = dispatch.resend_lost(store, settings, everything=args.requeue)
        if resent:
            _note(f"re-sent {resent} queued document(s) whose messages the broker had lost")
    except BrokerUnavailable as exc:
        broker_error = exc
    if not sources:
        if broker_error:
            raise broker_error
        return ExitCode.ok

    batch = store.new_batch("submit", [os.fspath(p) for p in args.inputs])
    outcomes: dict[str, list[str]] = {"queued": [], "known": [], "failed": []}
    bar = _bar(len(sources), "submit", quiet=args.quiet)

    def registered() -> Iterator[str]:
        """Store each document's bytes, record it, and yield the keys to send."""
        for src in sources:
            failure: DocumentResult | None = None
            sha256, size = src.sha256, src.size
            if src.failed:
                failure = failed_result(src, src.error_code or "bad_input",
                                        f"{src.name}: {src.error_message}")
            else:
                try:
                    data = load_bytes(src, max_bytes=settings.max_file_bytes)
                    sha256, size = store.blobs.put(data), len(data)
                    del data
                except InputError as exc:
                    failure = failed_result(src, exc.code, str(exc))
            key = document_key(sha256, src.name)
            outcome = store.register(batch, key=key, sha256=sha256, name=src.name, size=size,
                                     fmt=src.format, reprocess=args.reprocess, failure=failure)
            outcomes[outcome].append(src.name)
            bar.update(1)
            if outcome == "queued":
                yield key

    keys = registered()
    try:
        dispatch.send_documents(keys, store, settings)
    except BrokerUnavailable as exc:
        broker_error = exc
        for _key in keys:  # keep recording the rest: they are sent later
            pass
    finally:
        bar.close()
    _report_submit(batch, outcomes, store)
    print(batch)
    if broker_error is not None:
        _err(str(broker_error))
        return EXIT_SERVICE_UNAVAILABLE
    return ExitCode.ok


def _report_submit(batch: str, outcomes: dict[str, list[str]], store) -> None:  # type: ignore[no-untyped-def]
    total = sum(len(v) for v in outcomes.values())
    _note(f"batch {batch}: {total} documents -- {len(outcomes['queued'])} queued, "
          f"{len(outcomes['known'])} already known, {len(outcomes['failed'])} failed on reading")
    for name in outcomes["known"][:20]:
        _note(f"  already known: {name} (use --reprocess to process it again)")
    if len(outcomes["known"]) > 20:
        _note(f"  ... and {len(outcomes['known']) - 20} more already known")
    for failure in store.failures(batch):
        if failure.name in outcomes["failed"]:
            _note(f"  failed: {failure.error_message} [{failure.error_code}]")
    _note(f"follow it with: tallyscan status {batch} --watch")


# --------------------------------------------------------------------------- #
# worker


WORKER_DESCRIPTION = """\
Start a Celery worker that processes submitted documents (the same as
'celery -A tallyscan.worker worker -Q $TALLYSCAN_QUEUE'). Run one per machine,
with --concurrency set to its cores; all of them point at the same broker and
store through TALLYSCAN_BROKER_URL and TALLYSCAN_DATABASE_URL.
"""


def add_worker_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="start a worker that processes submitted documents",
                       description=WORKER_DESCRIPTION, epilog=SERVICE_ENV, formatter_class=_Formatter)
    p.add_argument("--concurrency", "-c", type=int, default=None, metavar="N",
                   help="pool processes (default: all cores)")
    p.add_argument("--hostname", "-n", default=None, metavar="NAME",
                   help="worker node name (default: tallyscan-<pid>@<host>)")
    p.add_argument("--loglevel", "-l", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.add_argument("celery_args", nargs=argparse.REMAINDER, metavar="-- CELERY_OPTION",
                   help="further options passed to 'celery worker' after --")
    p.set_defaults(func=cmd_worker)


def worker_argv(args: argparse.Namespace, settings: Settings) -> list[str]:
    from tallyscan.pipeline import default_jobs

    argv = ["worker", "--loglevel", args.loglevel, "-Q", settings.queue,
            "--concurrency", str(args.concurrency or default_jobs()),
            "--hostname", args.hostname or f"tallyscan-{os.getpid()}@%h",
            "--without-gossip", "--without-mingle"]
    extra = list(args.celery_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return argv + extra


def cmd_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.concurrency is not None and args.concurrency < 1:
        _err(f"--concurrency must be at least 1, got {args.concurrency}")
        return ExitCode.bad_arguments
    from tallyscan.worker import app

    app.worker_main(worker_argv(args, settings))
    return ExitCode.ok


# --------------------------------------------------------------------------- #
# status


def add_status_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="how far a batch (or the whole store) has got",
                       description="Counts of documents by state (queued, running, done, failed) "
                                   "with a progress bar, and each failed document with its error. "
                                   "Without BATCH: every document in the store, and the recent batches.",
                       epilog=SERVICE_EXIT_CODES, formatter_class=_Formatter)
    p.add_argument("batch", nargs="?", metavar="BATCH", help="batch id printed by submit")
    p.add_argument("--watch", "-w", action="store_true", help="refresh until every document has finished")
    p.add_argument("--interval", type=float, default=2.0, metavar="S", help="refresh interval for --watch")
    p.set_defaults(func=cmd_status)


def text_bar(finished: int, total: int, width: int = 30) -> str:
    share = finished / total if total else 1.0
    filled = round(share * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} finished ({share:.0%})"


@_service_errors
def cmd_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    store = _open(settings)
    batch = store.check_batch(args.batch) if args.batch else None
    counts = store.counts(batch)
    if args.watch:
        counts = _watch(store, batch, counts, max(0.2, args.interval))
    total = sum(counts.values())
    finished = counts["done"] + counts["failed"]
    print(f"{'batch ' + batch if batch else 'all documents'}: {total} documents")
    print(text_bar(finished, total))
    print("  ".join(f"{state} {n}" for state, n in counts.items()))
    failures = store.failures(batch)
    if failures:
        print("failed:")
        for f in failures:
            print(f"  {f.name}  [{f.error_code}]  {f.error_message}")
    if batch is None:
        recent = store.batches(5)
        if recent:
            print("recent batches:")
            for b in recent:
                print(f"  {b.id}  {b.origin:<7} {b.documents} documents  "
                      f"{b.created_at:%Y-%m-%d %H:%M} UTC")
    if counts["failed"] and counts["failed"] == total:
        return ExitCode.all_documents_failed
    return ExitCode.some_documents_failed if counts["failed"] else ExitCode.ok


def _watch(store, batch: str | None, counts: dict[str, int], interval: float) -> dict[str, int]:  # type: ignore[no-untyped-def]
    total = sum(counts.values())
    bar = _bar(total, "documents")
    try:
        while True:
            finished = counts["done"] + counts["failed"]
            bar.total = sum(counts.values())
            bar.n = finished
            bar.set_postfix_str(f"queued {counts['queued']} running {counts['running']} "
                                f"failed {counts['failed']}", refresh=True)
            if counts["queued"] + counts["running"] == 0:
                return counts
            time.sleep(interval)
            counts = store.counts(batch)
    finally:
        bar.close()


# --------------------------------------------------------------------------- #
# export


EXPORT_DESCRIPTION = """\
Write a batch's results (or every finished document in the store) for analysts:

  cells       the long table: one row per canonical cell of each done document,
              with the same columns as 'tallyscan extract' writes to cells.csv
  wide        one row per document and section 三 row, one column per applicant
              type (自然人, 法人或其他组织/..., 总计), values as numbers
  documents   one row per document, done or failed, with its error

--format csv      OUT/cells.csv, wide.csv, documents.csv (UTF-8 with BOM, for Excel)
--format xlsx     OUT/tallyscan.xlsx with sheets cells, wide, documents
                  (or OUT itself when it ends in .xlsx)
--format parquet  OUT/cells.parquet, wide.parquet, documents.parquet
--format json     OUT/cells.json, wide.json, documents.json (arrays of objects)

Every file is written whole or not at all.
"""


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a batch's cells, wide table and documents",
                       description=EXPORT_DESCRIPTION, epilog=SERVICE_EXIT_CODES,
                       formatter_class=_Formatter)
    p.add_argument("batch", nargs="?", metavar="BATCH", help="batch id (default: every document)")
    p.add_argument("--format", "-f", choices=FORMATS, default="csv")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="PATH",
                   help="output folder (created if missing)")
    p.set_defaults(func=cmd_export)


@_service_errors
def cmd_export(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    store = _open(settings)
    batch = store.check_batch(args.batch) if args.batch else None
    results = list(store.results(batch))
    out: Path = args.out
    workbook = args.format == "xlsx" and out.suffix.lower() == ".xlsx"
    folder = out.parent if workbook else out
    if folder.exists() and not folder.is_dir():
        _err(f"--out {folder} is a file, not a folder; choose a folder for the outputs")
        return ExitCode.bad_arguments
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _err(f"cannot create the output folder {folder}: {exc.strerror or exc}")
        return ExitCode.bad_arguments
    target = folder
    if args.format == "xlsx":
        target = out if workbook else folder / "tallyscan.xlsx"
    written = write_export(results, args.format, target)
    counts = store.counts(batch)
    pending = counts["queued"] + counts["running"]
    n_cells = sum(len(r.cells) for r in results if r.status == "done")
    print(f"{len(results)} documents ({sum(r.status == 'failed' for r in results)} failed), "
          f"{n_cells} cells -> {', '.join(str(p) for p in written)}")
    if pending:
        _note(f"note: {pending} document(s) of this {'batch' if batch else 'store'} are still "
              "queued or running and are not in the export yet")
    return ExitCode.ok


def write_export(results: Sequence[DocumentResult], fmt: str, out: Path) -> list[Path]:
    """Write the three tables in ``fmt``; ``out`` is the folder (the workbook for xlsx)."""
    if fmt == "csv":
        wide_cols, wide_rows = wide_table(results)
        return [
            write_cells_csv(out / "cells.csv", results),
            write_csv(out / "wide.csv", wide_cols,
                      ([_csv_text(v) for v in row] for row in wide_rows)),
            write_documents_csv(out / "documents.csv", results),
        ]
    tables = {"cells": cell_records(results), "wide": wide_records(results),
              "documents": document_records(results)}
    if fmt == "json":
        paths = []
        for name, records in tables.items():
            text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
            paths.append(write_atomic(out / f"{name}.json", lambda fh, t=text: fh.write(t)))
        return paths
    if fmt == "parquet":
        return [_write_parquet(out / f"{name}.parquet", records) for name, records in tables.items()]
    if fmt == "xlsx":
        return [_write_xlsx(out, tables)]
    raise ValueError(f"unknown export format {fmt!r}")


def _csv_text(value: Any) -> str:
    from tallyscan.export import format_number

    return value if isinstance(value, str) else format_number(value)


CELL_FIELDS = CELL_COLUMNS
DOCUMENT_FIELDS = DOCUMENT_COLUMNS


def cell_records(results: Sequence[DocumentResult]) -> list[dict[str, Any]]:
    """The long table with typed values (numbers stay numbers), columns as cells.csv."""
    rows = []
    for r in results:
        if r.status != "done":
            continue
        for c in r.cells:
            rows.append({
                "document": r.document, "sha256": r.sha256, "agency": r.agency, "year": r.year,
                "template": c.template, "section": c.section, "row_path": c.row_path,
                "col_path": c.col_path, "value": c.value, "raw_text": c.raw_text,
                "confidence": c.confidence, "status": c.status,
                "page": int(format_page(c.page)) if c.page is not None else None,
                "bbox": format_bbox(c.bbox), "reason": c.reason,
            })
    return rows


def document_records(results: Sequence[DocumentResult]) -> list[dict[str, Any]]:
    return [{
        "file": r.document, "sha256": r.sha256, "agency": r.agency, "year": r.year,
        "templates": format_templates(r.templates), "pages": r.pages,
        "cells_found": r.cells_found, "cells_flagged": r.cells_flagged, "status": r.status,
        "error_code": r.error_code, "error_message": r.error_message, "seconds": r.seconds,
        "failed_equations": "; ".join(f.get("equation", "") for f in r.failed_equations),
    } for r in results]


WIDE_KEYS = ("document", "sha256", "agency", "year", "template", "row_path")


def wide_table(results: Sequence[DocumentResult]) -> tuple[list[str], list[list[Any]]]:
    """Section 三 pivoted: one row per (document, row), one column per applicant type,
    the columns in the order the template lists them (first seen across the batch)."""
    columns: list[str] = []
    seen: set[str] = set()
    for r in results:
        if r.status != "done":
            continue
        for c in r.cells:
            if c.section == WIDE_SECTION and c.col_path not in seen:
                seen.add(c.col_path)
                columns.append(c.col_path)
    rows: list[list[Any]] = []
    for r in results:
        if r.status != "done":
            continue
        by_row: dict[str, dict[str, Any]] = {}
        templates: dict[str, str | None] = {}
        for c in r.cells:
            if c.section != WIDE_SECTION:
                continue
            by_row.setdefault(c.row_path, {})[c.col_path] = c.value
            templates.setdefault(c.row_path, c.template)
        for row_path, values in by_row.items():
            rows.append([r.document, r.sha256, r.agency, r.year, templates[row_path], row_path,
                         *(values.get(col) for col in columns)])
    return [*WIDE_KEYS, *columns], rows


def wide_records(results: Sequence[DocumentResult]) -> list[dict[str, Any]]:
    columns, rows = wide_table(results)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    numeric = {"value", "confidence", "seconds"}
    if records:
        names = list(records[0])
        fields = []
        for name in names:
            values = [rec[name] for rec in records]
            if name in numeric or (name not in WIDE_KEYS and any(isinstance(v, float) for v in values)):
                fields.append(pa.field(name, pa.float64()))
            elif all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
                fields.append(pa.field(name, pa.int64()))
            else:
                fields.append(pa.field(name, pa.string()))
        table = pa.Table.from_pylist(records, schema=pa.schema(fields))
    else:
        table = pa.table({})
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_xlsx(path: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for name, records in tables.items():
        sheet = book.create_sheet(title=name)
        header = list(records[0]) if records else list(
            {"cells": CELL_FIELDS, "documents": DOCUMENT_FIELDS, "wide": WIDE_KEYS}[name])
        sheet.append(header)
        for rec in records:
            sheet.append([rec[h] for h in header])
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        book.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- #
# extract -> store


class ExtractStore:
    """Saves each result of ``tallyscan extract`` to the store, as one batch."""

    def __init__(self, store, batch: str) -> None:  # type: ignore[no-untyped-def]
        self.store = store
        self.batch = batch
        self.saved = 0
        self.errors = 0

    @classmethod
    def open(cls, inputs: Sequence[str], settings: Settings) -> ExtractStore:
        """Raises StoreUnavailable (or SettingsError) when the store cannot be used."""
        store = _open(settings)
        return cls(store, store.new_batch("extract", [os.fspath(p) for p in inputs]))

    def save(self, result: DocumentResult) -> None:
        """Never stops the run: the CSV/JSON outputs are still written if the store fails."""
        try:
            self.store.save_result(result, self.batch)
            self.saved += 1
        except Exception as exc:  # noqa: BLE001 - reported, the files are the primary output
            self.errors += 1
            if self.errors <= 3:
                _err(f"{result.document}: not saved to the store ({exc})")

    def summary(self) -> str:
        failed = f", {self.errors} could not be saved" if self.errors else ""
        return f"store: {self.saved} documents saved to {self.store.url} as batch {self.batch}{failed}"


def open_extract_store(args: argparse.Namespace, settings: Settings) -> ExtractStore | None:
    """The store hook for ``extract`` (None with --no-store)."""
    if getattr(args, "no_store", False):
        return None
    return ExtractStore.open(args.inputs, dataclasses.replace(settings))


SERVICE_COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "submit": add_submit_parser,
    "worker": add_worker_parser,
    "status": add_status_parser,
    "export": add_export_parser,
}

__all__ = [
    "EXIT_SERVICE_UNAVAILABLE", "SERVICE_COMMANDS", "ExtractStore", "add_export_parser",
    "add_status_parser", "add_submit_parser", "add_worker_parser", "cell_records", "cmd_export",
    "cmd_status", "cmd_submit", "cmd_worker", "open_extract_store", "wide_table", "write_export",
]
