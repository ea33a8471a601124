"""Put flagged cells in front of a person, and take their corrections back.

``export``: one CSV row per flagged cell (every status but ``ok`` and
``corrected``) with the evidence: what was read, how sure, why it is flagged (the
failed equation, say), and PNG crops of the cell and of its row cut from the
page as the pipeline saw it (upright, deskewed). The ``corrected_value`` column
is left empty for the reviewer.

``apply``: the filled-in corrections go back into the results they came from
(the per-document JSON of an ``extract`` folder, or the store), each with an
audit entry (who, when, old, new); the equations are checked again and what
still fails is reported. A correction already applied is skipped, so applying
the same file twice changes nothing.

>>> rows = export_review(load_results("out"), Path("review.csv"))
>>> report = apply_review(Path("review.csv"), who="li.wei")
"""

from __future__ import annotations

import csv
import getpass
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tallyscan.exceptions import ExitCode, TallyscanError
from tallyscan.export import (
    format_confidence,
    format_page,
    format_value,
    read_csv,
    write_cells_csv,
    write_csv,
    write_document_json,
    write_documents_csv,
)
from tallyscan.model import CanonicalCell, DocumentResult
from tallyscan.postprocess.numbers import parse_number
from tallyscan.postprocess.template_data import OK_CONFIDENCE

log = logging.getLogger(__name__)

REVIEW_COLUMNS = (
    "document", "sha256", "page", "section", "row_path", "col_path", "value", "raw_text",
    "confidence", "status", "reason", "crop", "row_crop", "corrected_value", "origin",
)
REVIEWED = ("ok", "corrected")  # statuses that need no person
STORE_ORIGIN = "store"
# Crops: the cell's box grown by this share of its height on every side.
CROP_MARGIN = 0.35


class ReviewFileError(TallyscanError):
    """The review CSV cannot be applied as it stands (nothing was changed)."""

    code = "bad_review_file"
    exit_code = ExitCode.bad_arguments


# --------------------------------------------------------------------------- #
# Where results live


@dataclass
class Origin:
    """A set of results: an ``extract`` output folder, or the store."""

    kind: str  # "dir" or "store"
    path: Path | None = None
    store: object | None = None

    @property
    def label(self) -> str:
        return STORE_ORIGIN if self.kind == "store" else str(self.path)


def open_origin(source: str, store_url: str | None = None) -> Origin:
    """``source`` is an output folder of ``tallyscan extract``, or the word ``store``."""
    if source == STORE_ORIGIN:
        from tallyscan.store import open_store

        return Origin("store", store=open_store(store_url))
    path = Path(source)
    if not path.is_dir():
        raise ReviewFileError(f"{source}: not a folder of extract results (nor the word 'store'); "
                             "give the --out folder of 'tallyscan extract'")
    return Origin("dir", path=path.resolve())


def load_results(origin: Origin, batch: str | None = None) -> Iterator[tuple[Path | None, DocumentResult]]:
    """Every document result of an origin, with its JSON file for a folder."""
    if origin.kind == "store":
        for result in origin.store.results(batch):  # type: ignore[attr-defined]
            yield None, result
        return
    assert origin.path is not None
    for path in sorted(origin.path.glob("*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s: skipped, not a readable JSON file (%s)", path, exc)
            continue
        if isinstance(data, dict) and "cells" in data and "sha256" in data:
            yield path, DocumentResult.from_json(data)


def _document_bytes(origin: Origin, result: DocumentResult) -> bytes | None:
    """The document's own bytes (checked against its sha256), for cutting crops.

    The store's copy when it has one (``submit`` keeps every file), else the
    file the document was read from, looked up as named from the current
    folder (and, for an output folder, from beside it).
    """
    if origin.kind == "store":
        try:
            return origin.store.blobs.get(result.sha256)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - the file on disk may still be there
            log.debug("%s: no stored copy (%s)", result.document, exc)
    bases = [Path.cwd()] + ([origin.path.parent, origin.path] if origin.path else [])
    data = _file_bytes(result.document, result.sha256, bases)
    if data is None:
        log.warning("%s: no crops, the file was not found (or has changed) from %s",
                    result.document, ", ".join(str(b) for b in bases))
    return data


def _file_bytes(name: str, sha256: str, bases: list[Path]) -> bytes | None:
    import hashlib
    import zipfile

    file_part, _, member = name.partition("!")
    for base in bases:
        p = base / file_part
        if not p.is_file():
            continue
        try:
            if member:
                with zipfile.ZipFile(p) as zf:
                    data = zf.read(member)
            else:
                data = p.read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


# --------------------------------------------------------------------------- #
# Export


def flagged(result: DocumentResult) -> list[CanonicalCell]:
    return [c for c in result.cells if c.status not in REVIEWED]


def export_review(origin: Origin, out: Path, *, batch: str | None = None,
                  crops: bool = True, progress=None) -> int:
    """Write the review CSV (and crops beside it); returns the number of rows."""
    crop_dir = out.parent / f"{out.stem}_crops"
    rows: list[list[str]] = []
    for json_path, result in load_results(origin, batch):
        if result.status != "done":
            continue
        cells = flagged(result)
        if not cells:
            continue
        paths = _cut_crops(origin, result, cells, crop_dir, out.parent) if crops else {}
        where = STORE_ORIGIN if json_path is None else str(json_path)
        for cell in cells:
            crop, row_crop = paths.get(cell.key, ("", ""))
            rows.append([
                result.document, result.sha256, format_page(cell.page), cell.section,
                cell.row_path, cell.col_path, format_value(cell.value), cell.raw_text,
                format_confidence(cell.confidence), cell.status, cell.reason, crop, row_crop,
                "", where,
            ])
        if progress:
            progress(result)
    write_csv(out, REVIEW_COLUMNS, rows)
    return len(rows)


def _cut_crops(origin: Origin, result: DocumentResult, cells: list[CanonicalCell],
               crop_dir: Path, relative_to: Path) -> dict[str, tuple[str, str]]:
    """PNG crops of each flagged cell and its row; paths relative to the CSV's folder."""
    import cv2

    data = _document_bytes(origin, result)
    if data is None:
        return {}
    geometry = {g["page"]: g for g in result.page_geometry}
    pages: dict[int, tuple] = {}
    doc_dir = crop_dir / f"{_safe(Path(result.document.split('!')[-1]).stem)}-{result.sha256[:8]}"
    out: dict[str, tuple[str, str]] = {}
    try:
        doc = _open(data, result.document)
    except TallyscanError as exc:
        log.warning("%s: no crops (%s)", result.document, exc)
        return {}
    try:
        for n, cell in enumerate(cells):
            row = _row_box(result, cell)
            box = cell.bbox or row
            if cell.page is None or box is None:
                continue
            if cell.page not in pages:
                pages[cell.page] = _upright(doc, cell.page, geometry.get(cell.page, {}))
            image, scale = pages[cell.page]
            doc_dir.mkdir(parents=True, exist_ok=True)
            cell_png = doc_dir / f"p{cell.page + 1}-{cell.section}-{n:03d}.png"
            row_png = doc_dir / f"p{cell.page + 1}-{cell.section}-{n:03d}-row.png"
            cv2.imwrite(str(cell_png), _cut(image, box, scale))
            paths = [str(cell_png.relative_to(relative_to)), ""]
            if row is not None:
                cv2.imwrite(str(row_png), _cut(image, row, scale))
                paths[1] = str(row_png.relative_to(relative_to))
            out[cell.key] = (paths[0], paths[1])
    finally:
        doc.close()
    return out


def _safe(stem: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)
    return keep[:60] or "document"


def _open(data: bytes, name: str):
    from tallyscan.ingest import kind_of, sniff
    from tallyscan.layout import rasterise

    if kind_of(sniff(data[:1024])) == "image":
        return rasterise.images_to_pdf(data, name)
    return rasterise.open_pdf(data, name)


def _upright(doc, index: int, geometry: dict):
    """The page as the layout stage saw it (turned, deskewed), and points→pixels."""
    from tallyscan.layout import rasterise
    from tallyscan.layout.scan import rotate_image

    image, dpi = rasterise.page_image(doc[index], color=False)
    if geometry.get("source") == "scan":
        image = rotate_image(image, int(geometry.get("rotation", 0)) // 90,
                             float(geometry.get("skew", 0.0)))
    return image, dpi / 72.0


def _cut(image, box, scale: float):
    x0, y0, x1, y1 = box
    m = CROP_MARGIN * (y1 - y0)
    h, w = image.shape[:2]
    a, b = max(0, int((x0 - m) * scale)), max(0, int((y0 - m) * scale))
    c, d = min(w, int((x1 + m) * scale) + 1), min(h, int((y1 + m) * scale) + 1)
    if c <= a or d <= b:
        return image[0:1, 0:1]
    return image[b:d, a:c]


def _row_box(result: DocumentResult, cell: CanonicalCell):
    """The box around every cell of the same table row on the same page."""
    boxes = [c.bbox for c in result.cells
             if c.section == cell.section and c.row_path == cell.row_path and c.bbox
             and c.page == cell.page]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


# --------------------------------------------------------------------------- #
# Apply


@dataclass
class ApplyReport:
    applied: int = 0
    unchanged: int = 0
    documents: int = 0
    still_failing: dict[str, list[str]] = field(default_factory=dict)  # document -> equations

    def summary(self) -> str:
        lines = [f"{self.applied} corrections applied, {self.unchanged} already applied or "
                 f"unchanged, in {self.documents} documents"]
        for doc, eqs in self.still_failing.items():
            for e in eqs:
                lines.append(f"still failing: {doc}: {e}")
        if not self.still_failing:
            lines.append("every equation of the corrected documents holds")
        return "\n".join(lines)


@dataclass
class _Correction:
    line: int
    key: str
    value: int | float
    text: str


def read_corrections(path: Path) -> dict[tuple[str, str], list[_Correction]]:
    """Filled-in rows by (origin, sha256); raises ReviewFileError listing every bad row."""
    try:
        rows = read_csv(path)
    except FileNotFoundError:
        raise ReviewFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReviewFileError(f"{path}: cannot read it as a CSV file ({exc})") from None
    need = {"sha256", "section", "row_path", "col_path", "corrected_value", "origin"}
    if rows and not need <= set(rows[0]):
        missing = ", ".join(sorted(need - set(rows[0])))
        raise ReviewFileError(f"{path}: columns missing: {missing}; export a fresh file with "
                              "'tallyscan review export'")
    out: dict[tuple[str, str], list[_Correction]] = {}
    problems = []
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        text = (row.get("corrected_value") or "").strip()
        if not text:
            continue
        parsed = parse_number(text, decimal=True)
        if parsed.value is None:
            problems.append(f"line {i}: corrected_value {text!r} is not a number")
            continue
        key = f"{row['section']}|{row['row_path']}|{row['col_path']}"
        out.setdefault((row["origin"], row["sha256"]), []).append(
            _Correction(i, key, parsed.value, text))
    if problems:
        raise ReviewFileError(f"{path}: nothing applied; fix these rows first: " + "; ".join(problems))
    return out


def apply_review(path: Path, *, who: str | None = None, store_url: str | None = None,
                 when: datetime | None = None) -> ApplyReport:
    """Apply the corrections of a review CSV; see the module docstring."""
    from tallyscan.postprocess.repair import check_equations

    who = who or _user()
    stamp = (when or datetime.now(UTC)).isoformat(timespec="seconds")
    corrections = read_corrections(path)
    report = ApplyReport()
    touched_dirs: set[Path] = set()
    store = None
    for (origin, sha), items in corrections.items():
        if origin == STORE_ORIGIN:
            if store is None:
                store = open_origin(STORE_ORIGIN, store_url).store
            result = _store_result(store, sha)
            json_path = None
        else:
            json_path = Path(origin)
            if not json_path.is_file():
                raise ReviewFileError(f"{path}: the results file {origin} is gone; "
                                      "re-run the export where the results are")
            result = DocumentResult.from_json(json.loads(json_path.read_text("utf-8")))
        if result is None or result.sha256 != sha:
            raise ReviewFileError(f"{path}: no results for document {sha[:12]} in {origin}")
        by_key = {c.key: c for c in result.cells}
        changed = 0
        for item in items:
            cell = by_key.get(item.key)
            if cell is None:
                raise ReviewFileError(f"{path}: line {item.line}: {item.key} is not a cell of "
                                      f"{result.document}")
            new = _typed(item.value, cell)
            if cell.status == "corrected" and _same(cell.value, new):
                report.unchanged += 1
                continue
            result.corrections.append({
                "key": item.key, "old": cell.value, "old_status": cell.status, "new": new,
                "who": who, "when": stamp, "file": str(path),
            })
            cell.value = new
            cell.status = "corrected"
            cell.reason = f"corrected by {who} at {stamp}"
            changed += 1
        if not changed:
            continue
        report.applied += changed
        report.documents += 1
        sections = {s: v for s, v in result.templates.items() if v != "missing"}
        failures, failing = check_equations(result.cells, sections)
        _restatus(result.cells, failing)
        result.failed_equations = failures
        if failures:
            report.still_failing[result.document] = [f["equation"] for f in failures]
        if json_path is None:
            store.save_result(result)  # type: ignore[union-attr]
        else:
            write_document_json(json_path, result)
            touched_dirs.add(json_path.parent)
    for folder in touched_dirs:
        _rewrite_tables(folder)
    return report


def _store_result(store, sha: str) -> DocumentResult | None:
    return store.result(sha)


def _typed(value: int | float, cell: CanonicalCell) -> int | float:
    """Counts stay ints; a decimal only where the cell holds one (万元 amounts)."""
    if float(value).is_integer() and not isinstance(cell.value, float) and "万元" not in cell.col_path:
        return int(value)
    return float(value)


def _same(a, b) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9


def _restatus(cells: list[CanonicalCell], failing: dict[str, list[str]]) -> None:
    """Statuses after corrections: failing equations flag their cells, mended ones free them."""
    for c in cells:
        eqs = failing.get(c.key)
        if c.status == "corrected":
            if eqs:
                c.reason = c.reason.split("; ")[0] + "; still fails " + ", ".join(eqs)
            else:
                c.reason = c.reason.split("; ")[0]
        elif eqs:
            c.status = "inconsistent"
            c.reason = "does not hold after review: " + ", ".join(eqs)
        elif c.status == "inconsistent":
            confident = c.confidence >= OK_CONFIDENCE
            c.status = "ok" if confident else "low_confidence"
            c.reason = "" if confident else f"read with confidence {c.confidence:.2f}"


def _rewrite_tables(folder: Path) -> None:
    """cells.csv and documents.csv of an extract folder, from its (corrected) JSON files."""
    results = [r for _, r in load_results(Origin("dir", path=folder))]
    order: dict[str, int] = {}
    docs_csv = folder / "documents.csv"
    if docs_csv.is_file():
        for i, row in enumerate(read_csv(docs_csv)):
            order.setdefault(row.get("file", ""), i)
    results.sort(key=lambda r: (order.get(r.document, len(order)), r.document))
    write_cells_csv(folder / "cells.csv", results)
    write_documents_csv(docs_csv, results)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")
