"""Write results: cells.csv, documents.csv and one JSON per document, all atomically.

Every file is written to a temporary file in the same folder and renamed over
the target when complete, so a crash never leaves half a file behind.
CSV files are UTF-8 with a byte-order mark (``utf-8-sig``), which Excel needs
to read Chinese text correctly.

>>> write_cells_csv(out / "cells.csv", results)
>>> write_documents_csv(out / "documents.csv", results)
>>> write_document_json(out / "a.json", result)

For long runs, :class:`CellsWriter` streams rows to the temporary file as
documents finish and renames it at :meth:`CellsWriter.commit`.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from tallyscan.model import CanonicalCell, DocumentResult

CELL_COLUMNS = (
    "document", "sha256", "agency", "year", "template", "section", "row_path", "col_path",
    "value", "raw_text", "confidence", "status", "page", "bbox", "reason",
)
DOCUMENT_COLUMNS = (
    "file", "sha256", "agency", "year", "templates", "pages", "cells_found", "cells_flagged",
    "status", "error_code", "error_message", "seconds", "failed_equations",
)
ENCODING = "utf-8-sig"
SECTION_ORDER = ("一", "二", "三", "四", "五", "六")


# --------------------------------------------------------------------------- #
# Formatting


def format_number(x: Any) -> str:
    """An int as is; a float as a plain decimal (never an exponent); None as ''."""
    if x is None:
        return ""
    if isinstance(x, numbers.Integral):  # int, bool, numpy integers
        return str(int(x))
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(f):
        return ""
    # Shortest repr digits, written out in full: 1e-05 -> "0.00001", 12.0 -> "12.0".
    return format(Decimal(repr(f)), "f")


def format_value(value: int | float | None) -> str:
    """A cell value: int as int, float as a plain decimal (12.0 stays "12.0"), None as ''."""
    return format_number(value)


def format_confidence(c: float | None) -> str:
    if c is None:
        return ""
    return format_number(round(float(c), 4))


def format_bbox(bbox: Sequence[float] | None) -> str:
    if not bbox:
        return ""
    return ",".join(f"{float(v):.1f}".replace("-0.0", "0.0") for v in bbox)


def format_page(page: int | None) -> str:
    """CanonicalCell.page is the 0-based page index (as PageLayout.page); CSV shows 1-based."""
    return "" if page is None else str(int(page) + 1)


def format_templates(templates: dict[str, str]) -> str:
    def key(item: tuple[str, str]) -> tuple[int, str]:
        sec = item[0]
        return (SECTION_ORDER.index(sec) if sec in SECTION_ORDER else len(SECTION_ORDER), sec)

    return " ".join(f"{sec}:{ver}" for sec, ver in sorted(templates.items(), key=key))


def cell_row(result: DocumentResult, cell: CanonicalCell) -> list[str]:
    return [
        result.document,
        result.sha256,
        result.agency or "",
        "" if result.year is None else str(result.year),
        cell.template or "",
        cell.section,
        cell.row_path,
        cell.col_path,
        format_value(cell.value),
        cell.raw_text or "",
        format_confidence(cell.confidence),
        cell.status,
        format_page(cell.page),
        format_bbox(cell.bbox),
        cell.reason or "",
    ]


def document_row(result: DocumentResult) -> list[str]:
    return [
        result.document,
        result.sha256,
        result.agency or "",
        "" if result.year is None else str(result.year),
        format_templates(result.templates),
        str(result.pages),
        str(result.cells_found),
        str(result.cells_flagged),
        result.status,
        result.error_code or "",
        result.error_message or "",
        f"{result.seconds:.3f}",
        "; ".join(f["equation"] for f in result.failed_equations),
    ]


# --------------------------------------------------------------------------- #
# Atomic files


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class AtomicFile:
    """A text file written under a temporary name and renamed into place on commit."""

    def __init__(self, path: str | os.PathLike[str], encoding: str = "utf-8", newline: str | None = None) -> None:
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.tmp = Path(tmp)
        try:
            self.fh: IO[str] = open(fd, "w", encoding=encoding, newline=newline)  # noqa: SIM115
        except BaseException:
            os.close(fd)
            self.tmp.unlink(missing_ok=True)
            raise
        self.done = False

    def commit(self) -> Path:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.chmod(self.tmp, _default_mode())
        os.replace(self.tmp, self.path)
        self.done = True
        return self.path

    def abort(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)
        self.done = True

    def __enter__(self) -> IO[str]:
        return self.fh

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[str]], None], *,
                 encoding: str = "utf-8", newline: str | None = None) -> Path:
    """Call ``write(fh)`` on a temporary file, then rename it to ``path``."""
    f = AtomicFile(path, encoding=encoding, newline=newline)
    with f as fh:
        write(fh)
    return f.path


# --------------------------------------------------------------------------- #
# The three outputs


class CellsWriter:
    """Stream cells.csv rows as documents finish; the file appears only on commit()."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = AtomicFile(path, encoding=ENCODING, newline="")
        self._csv = csv.writer(self._file.fh)
        self._csv.writerow(CELL_COLUMNS)
        self.rows = 0

    def add(self, result: DocumentResult) -> None:
        if result.status != "done":
            return  # a failed document contributes no rows
        for cell in result.cells:
            self._csv.writerow(cell_row(result, cell))
            self.rows += 1

    def commit(self) -> Path:
        return self._file.commit()

    def abort(self) -> None:
        self._file.abort()

    def __enter__(self) -> CellsWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_cells_csv(path: str | os.PathLike[str], results: Iterable[DocumentResult]) -> Path:
    """cells.csv: one row per CanonicalCell of every successful document."""
    with CellsWriter(path) as w:
        for r in results:
            w.add(r)
    return Path(path)


def write_csv(path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    """A utf-8-sig CSV with a header row, written atomically."""

    def write(fh: IO[str]) -> None:
        out = csv.writer(fh)
        out.writerow(columns)
        out.writerows(rows)

    return write_atomic(path, write, encoding=ENCODING, newline="")


def write_documents_csv(path: str | os.PathLike[str], results: Iterable[DocumentResult]) -> Path:
    """documents.csv: one row per document, done or failed."""
    return write_csv(path, DOCUMENT_COLUMNS, (document_row(r) for r in results))


def document_json_text(result: DocumentResult) -> str:
    return json.dumps(result.to_json(), ensure_ascii=False, indent=1, default=_json_default) + "\n"


def write_document_json(path: str | os.PathLike[str], result: DocumentResult) -> Path:
    """<stem>.json: the whole DocumentResult."""
    text = document_json_text(result)
    return write_atomic(path, lambda fh: fh.write(text), encoding="utf-8")


def _json_default(o: Any) -> Any:
    # numpy scalars and the like, should a stage leave one in a cell
    for attr in ("item", "tolist"):
        if hasattr(o, attr):
            return getattr(o, attr)()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a CSV written here, as dicts (tests, tools)."""
    with open(path, encoding=ENCODING, newline="") as fh:
        return list(csv.DictReader(fh))


def json_names(stems_and_shas: Sequence[tuple[str, str]]) -> list[str]:
    """Unique JSON file names for documents: ``<stem>.json``, or ``<stem>-<sha8>.json``
    when several documents share a stem (case-insensitively)."""
    counts: dict[str, int] = {}
    for stem, _ in stems_and_shas:
        key = _safe_stem(stem).casefold()
        counts[key] = counts.get(key, 0) + 1
    names: list[str] = []
    used: set[str] = set()
    for stem, sha in stems_and_shas:
        safe = _safe_stem(stem)
        base = safe if counts[safe.casefold()] == 1 else f"{safe}-{(sha or 'nosha')[:8]}"
        name, n = base, 1
        while name.casefold() in used or name.casefold() in ("cells", "documents"):
            n += 1
            name = f"{base}-{n}"
        used.add(name.casefold())
        names.append(f"{name}.json")
    return names


def _safe_stem(stem: str) -> str:
    bad = '<>:"/\\|?*\x00'
    s = "".join("_" if (c in bad or ord(c) < 32) else c for c in stem).strip(" .")
    return s[:150] or "document"


__all__ = [
    "CELL_COLUMNS", "DOCUMENT_COLUMNS", "ENCODING", "AtomicFile", "CellsWriter", "cell_row",
    "document_json_text", "document_row", "format_bbox", "format_number", "format_value",
    "json_names", "read_csv", "write_atomic", "write_cells_csv", "write_csv", "write_document_json",
    "write_documents_csv",
]
