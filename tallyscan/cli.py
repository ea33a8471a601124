"""The ``tallyscan`` command line (also ``python -m tallyscan``).

Only this module (and the worker tasks) turn errors into exit codes; the
library raises :class:`~tallyscan.exceptions.TallyscanError` subclasses.
Subcommands are registered in :data:`COMMANDS`; add new ones (review, submit,
worker, status, export) with their own ``add_<name>_parser`` function.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tallyscan.exceptions import EngineUnavailable, ExitCode, TallyscanError
from tallyscan.export import (
    DOCUMENT_COLUMNS,
    CellsWriter,
    document_row,
    json_names,
    write_csv,
    write_document_json,
)
from tallyscan.ingest import INPUT_EXTENSIONS, Source, expand_inputs
from tallyscan.model import DocumentResult
from tallyscan.review_cli import add_review_parser
from tallyscan.service_cli import EXIT_SERVICE_UNAVAILABLE, SERVICE_COMMANDS, open_extract_store
from tallyscan.settings import Settings, SettingsError

log = logging.getLogger("tallyscan")

EXIT_INTERRUPTED = 130

EXTRACT_DESCRIPTION = """\
Extract the report tables (sections 二, 三, 四) of Chinese government
information-disclosure annual reports into canonical, checked cells.

inputs:
  Any mix of PDF files, image files (PNG, JPEG, TIFF -- a multi-page TIFF is
  one document), directories (searched recursively; hidden files and files with
  other extensions are skipped) and ZIP archives of those (read in place; ZIPs
  inside ZIPs are not opened; unsafe or oversized archives fail). A file's type
  is taken from its content, not its name.

outputs (in --out DIR; every file is written whole or not at all):
  cells.csv       one row per canonical cell per successful document:
                  document, sha256, agency, year, template, section, row_path,
                  col_path, value, raw_text, confidence, status, page (1-based),
                  bbox ("x0,y0,x1,y1" in PDF points, top-left origin),
                  reason (why the cell is not plain ok)
  documents.csv   one row per input document: file, sha256, agency, year,
                  templates, pages, cells_found, cells_flagged, status,
                  error_code, error_message, seconds, failed_equations (sums
                  the printed numbers break)
  <name>.json     everything known about one successful document
                  (<name>-<sha256 prefix>.json when two inputs share a name)
  The CSV files are UTF-8 with a byte-order mark, so Excel shows Chinese text.

cell status (cells.csv; every status but ok is "flagged": see 'tallyscan review'):
  ok              read confidently, and every sum it is in holds (or read
                  unsure but pinned by the sums)
  repaired        the sums decided a value other than the first reading (or
                  one for a cell not found); raw_text keeps what was read
  low_confidence  doubtful, and no sum pins it: check it against the document
  inconsistent    in a sum the report itself breaks; the value is as printed
  missing         not found on the page, and the sums do not determine it
  corrected       set by a person (tallyscan review apply)

document status (documents.csv):
  done            the document was processed
  failed          it was not; error_code says why (empty_file, corrupt_document,
                  encrypted, no_pages, too_many_pages, page_too_large,
                  unsupported_format, unsafe_archive, no_table_found, active_content,
                  engine_unavailable, bad_input, timeout, internal_error) and
                  error_message names the file and what to do
"""

EXIT_CODES_TEXT = f"""\
exit codes:
  {ExitCode.ok:<3} every document was processed
  {ExitCode.bad_arguments:<3} usage error: bad option, missing input path, no documents found
      in the inputs, --out is a file or not writable, bad TALLYSCAN_* setting
  {ExitCode.some_documents_failed:<3} some documents failed (see documents.csv)
  {ExitCode.all_documents_failed:<3} every document failed
  {ExitCode.engine_unavailable:<3} the OCR engine cannot run here (not installed, no model files)
  {ExitCode.internal_error:<3} internal error (a bug: please report it)
  {ExitCode.service_unavailable:<3} the store (TALLYSCAN_DATABASE_URL) cannot be reached; retry, or --no-store
  {EXIT_INTERRUPTED:<3} interrupted (Ctrl-C); the outputs hold the documents finished so far
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def add_extract_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="extract the report tables of PDFs/images into CSV and JSON",
        description=EXTRACT_DESCRIPTION,
        epilog=EXIT_CODES_TEXT + "\nenvironment (limits and defaults):\n" + Settings.describe(),
        formatter_class=_Formatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="PDF, PNG, JPEG or TIFF file, directory, or ZIP archive")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR",
                   help="output folder (created if missing)")
    p.add_argument("--jobs", "-j", type=_positive_int, default=None, metavar="N",
                   help="documents processed in parallel (default: all cores); 1 runs in this process")
    p.add_argument("--engine", default=None, metavar="NAME",
                   help="OCR engine for scanned pages (default: $TALLYSCAN_OCR_ENGINE or rapidocr)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--verbose", "-v", action="count", default=0, help="more log messages (-vv: debug)")
    p.add_argument("--no-store", action="store_true",
                   help="do not also save the results to the store (TALLYSCAN_DATABASE_URL)")
    p.set_defaults(func=cmd_extract)


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "extract": add_extract_parser,
    "review": add_review_parser,
    **SERVICE_COMMANDS,  # submit, worker, status, export
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tallyscan",
        description="Canonical numbers from the tables of Chinese government annual reports "
                    "(政府信息公开工作年度报告), scanned or born-digital.",
        epilog="Run 'tallyscan COMMAND --help' for a command's inputs, outputs, statuses and exit codes.\n\n"
               + EXIT_CODES_TEXT,
        formatter_class=_Formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0) if isinstance(exc.code, int) else ExitCode.bad_arguments
    _setup_logging(getattr(args, "verbose", 0))
    try:
        return int(args.func(args))
    except SettingsError as exc:
        _error(str(exc))
        return ExitCode.bad_arguments
    except TallyscanError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:  # writing the outputs: disk full, permissions ...
        _error(f"cannot write the outputs: {exc}")
        return ExitCode.internal_error
    except Exception:
        log.exception("internal error")
        return ExitCode.internal_error


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s: %(message)s")
    root.setLevel(level)


def _error(message: str) -> None:
    print(f"tallyscan: error: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- #
# extract


def _settings_for(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.engine:
        name = args.engine.strip().lower()
        try:
            from tallyscan.ocr import ENGINES

            choices = sorted(ENGINES)
        except Exception:  # the OCR package is broken: let the documents report it
            choices = []
        if choices and name not in choices:
            raise SettingsError(f"--engine {args.engine!r} is not an OCR engine; choices: {', '.join(choices)}")
        try:
            settings = dataclasses.replace(settings, ocr_engine=name)
        except SettingsError:
            raise SettingsError(f"--engine {args.engine!r} is not a valid engine name") from None
    return settings


def _check_out_dir(out: Path) -> str | None:
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder; choose a folder for the outputs"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the output folder {out}: {exc.strerror or exc}"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"the output folder {out} is not writable"
    return None


def cmd_extract(args: argparse.Namespace) -> int:
    from tallyscan.pipeline import extract_many

    started = time.perf_counter()
    settings = _settings_for(args)
    missing = [p for p in args.inputs if not os.path.lexists(p)]
    if missing:
        _error("no such file or directory: " + ", ".join(missing))
        return ExitCode.bad_arguments
    out: Path = args.out
    if out.exists() and not out.is_dir():
        _error(f"--out {out} is a file, not a folder; choose a folder for the outputs")
        return ExitCode.bad_arguments
    try:
        sources = expand_inputs(args.inputs, settings)
    except FileNotFoundError as exc:
        _error(str(exc))
        return ExitCode.bad_arguments
    if not sources:
        exts = ", ".join(sorted(INPUT_EXTENSIONS))
        _error(f"no documents found in the inputs (looked for files ending in {exts})")
        return ExitCode.bad_arguments
    problem = _check_out_dir(out)
    if problem:
        _error(problem)
        return ExitCode.bad_arguments

    try:
        store = open_extract_store(args, settings)
    except TallyscanError as exc:
        if not exc.transient:
            raise
        _error(f"{exc} (or pass --no-store)")
        return EXIT_SERVICE_UNAVAILABLE
    run = _Run(out, sources)
    bar = _progress_bar(len(sources), quiet=args.quiet)
    interrupted = False
    results = extract_many(sources, settings, jobs=args.jobs)
    try:
        for result in results:
            run.add(result)
            if store is not None:
                store.save(result)
            bar.update(1)
            if result.status != "done":
                bar.write(f"failed: {result.error_message} [{result.error_code}]", file=sys.stderr)
            bar.set_postfix_str(f"failed {run.failures}", refresh=False)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        results.close()
        bar.close()
        run.abort()
        raise
    finally:
        results.close()  # stops and reaps the worker processes
    bar.close()
    run.finish()
    seconds = time.perf_counter() - started
    if store is not None:
        print(store.summary(), file=sys.stderr)
    print(run.summary(seconds, interrupted=interrupted))
    if interrupted:
        return EXIT_INTERRUPTED
    return run.exit_code()


def _progress_bar(total: int, *, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(total=total, unit="doc", file=sys.stderr, disable=disable, dynamic_ncols=True,
                desc="extract", leave=False)


class _Run:
    """Collects results: JSON per document at once, CSV rows in input order."""

    def __init__(self, out: Path, sources: list[Source]) -> None:
        self.out = out
        self.sources = sources
        self.index = {s.name: i for i, s in enumerate(sources)}
        self.json_name = dict(zip((s.name for s in sources),
                                  json_names([(s.stem, s.sha256) for s in sources]), strict=True))
        self.cells = CellsWriter(out / "cells.csv")
        self.rows: dict[int, list[str]] = {}
        self.waiting: dict[int, DocumentResult] = {}
        self.next = 0
        self.documents = self.pages = self.n_cells = self.flagged = self.failures = 0
        self.codes: set[str] = set()

    def add(self, result: DocumentResult) -> None:
        i = self.index.get(result.document)
        if i is None:  # pragma: no cover - results always carry their source's name
            i = len(self.sources) + len(self.rows)
        self.documents += 1
        self.pages += result.pages
        if result.status == "done":
            self.n_cells += len(result.cells)
            self.flagged += result.cells_flagged
            write_document_json(self.out / self.json_name[result.document], result)
        else:
            self.failures += 1
            self.codes.add(result.error_code or "")
            self._drop_stale_json(result.document)
        self.rows[i] = document_row(result)
        self.waiting[i] = result
        while self.next in self.waiting:  # cells.csv in input order, streamed
            self.cells.add(self.waiting.pop(self.next))
            self.next += 1

    def _drop_stale_json(self, name: str) -> None:
        """A failed document must not keep a JSON from an earlier successful run."""
        path = self.out / self.json_name.get(name, "")
        if not path.is_file():
            return
        try:
            with open(path, encoding="utf-8") as fh:
                same = json.load(fh).get("document") == name
        except (OSError, ValueError, AttributeError):
            return
        if same:
            path.unlink(missing_ok=True)

    def finish(self) -> None:
        for i in sorted(self.waiting):
            self.cells.add(self.waiting.pop(i))
        self.cells.commit()
        write_csv(self.out / "documents.csv", DOCUMENT_COLUMNS, (self.rows[i] for i in sorted(self.rows)))

    def abort(self) -> None:
        self.cells.abort()

    def summary(self, seconds: float, *, interrupted: bool = False) -> str:
        head = "interrupted: " if interrupted else ""
        return (
            f"{head}{self.documents} documents, {self.pages} pages, {self.n_cells} cells, "
            f"{self.flagged} flagged, {self.failures} failed, {seconds:.1f} s -> {self.out}"
        )

    def exit_code(self) -> int:
        if self.failures == 0:
            return ExitCode.ok
        if EngineUnavailable.code in self.codes:
            return ExitCode.engine_unavailable
        if self.failures == self.documents:
            return ExitCode.all_documents_failed
        return ExitCode.some_documents_failed


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
