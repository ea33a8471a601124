"""Plain data passed between the pipeline stages.

Every stage is a pure function from one of these to the next, so each can be
tested on golden JSON without running the stages before it. All coordinates are
PDF points in the *upright* page frame (after orientation correction), origin
top-left, so a bbox means the same thing for born-digital and scanned pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

BBox = tuple[float, float, float, float]

# Per output character: the recogniser's top candidates, best first.
CharAlternatives = list[list[tuple[str, float]]]


@dataclass
class Reading:
    """What an OCR engine (or the text layer) read from one crop."""

    text: str
    confidence: float
    alternatives: CharAlternatives = field(default_factory=list)
    # Characters the decoder may have dropped: (index in text before which it would
    # go, character, probability), from the blank frames of the recogniser's output.
    insertions: list[tuple[int, str, float]] = field(default_factory=list)
    # Left unread on purpose (a header or parent label the snapper does not
    # need): the cell holds words, whatever its empty text suggests.
    unread: bool = False
    # A minus sign the recogniser missed: ink just left of the crop, read
    # with the digits as a minus before them (a fax shrinks the sign to a
    # short dash the crop leaves out). Only looked for in section 二's narrow
    # tables; the snapper takes it for a minus in a signed column (本年增/减).
    sign_mark: bool = False
    # Ink just left of a number that the second reading, with it in view, read
    # past (the same digits): in a signed column a minus sign worn to a speck
    # (held-out syn14028: −1 read as a sure 1 twice), so never trusted there.
    mark_before: bool = False

    @classmethod
    def exact(cls, text: str) -> Reading:
        """A reading from a text layer: certain, no alternatives needed."""
        return cls(text=text, confidence=1.0, alternatives=[[(ch, 1.0)] for ch in text])

    @classmethod
    def empty(cls, confidence: float = 1.0) -> Reading:
        return cls(text="", confidence=confidence, alternatives=[])

    @classmethod
    def not_read(cls) -> Reading:
        """A cell of words deliberately left unread (see ``unread``)."""
        return cls(text="", confidence=0.0, alternatives=[], unread=True)


@dataclass
class TextLine:
    """A line of text on a page outside any table (titles, headings)."""

    text: str
    bbox: BBox
    confidence: float = 1.0


@dataclass
class Cell:
    """One grid cell of a detected table, possibly spanning rows/columns."""

    row: int
    col: int
    bbox: BBox
    row_span: int = 1
    col_span: int = 1
    reading: Reading = field(default_factory=Reading.empty)

    @property
    def text(self) -> str:
        return self.reading.text


@dataclass
class Table:
    """A ruled (or text-aligned) grid found on one page."""

    page: int
    bbox: BBox
    row_edges: list[float]
    col_edges: list[float]
    cells: list[Cell]
    # Placed by text alignment on a page without rules: rows and columns are a
    # guess, so no cell of it is vouched for by arithmetic alone.
    unruled: bool = False
    # Lines above a page's first table taken for the end of a table from the
    # page before (see scan.carried_over_block): kept only if they read as such.
    carried_over: bool = False

    @property
    def n_rows(self) -> int:
        return len(self.row_edges) - 1

    @property
    def n_cols(self) -> int:
        return len(self.col_edges) - 1

    def rows(self) -> list[list[Cell]]:
        """Cells grouped by their top row, left to right."""
        out: list[list[Cell]] = [[] for _ in range(self.n_rows)]
        for c in self.cells:
            out[c.row].append(c)
        for r in out:
            r.sort(key=lambda c: c.col)
        return out


@dataclass
class PageLayout:
    """Everything the snapper needs from one page."""

    page: int
    width: float
    height: float
    source: str  # "text-layer" or "scan"
    lines: list[TextLine]
    tables: list[Table]
    rotation: int = 0  # degrees the page was turned to be upright
    skew: float = 0.0  # degrees of deskew applied
    timings: dict[str, float] = field(default_factory=dict)


# ok: confidently read and every equation it is in holds (or an exact text layer);
# repaired: the solver chose a reading other than the OCR's top one, pinned by equations;
# low_confidence: unsure and no equation pins it; inconsistent: in an equation the
# printed numbers break (kept as printed); missing: not found on the page;
# corrected: a person set the value during review.
STATUSES = ("ok", "repaired", "low_confidence", "inconsistent", "missing", "corrected")


@dataclass
class CanonicalCell:
    """One cell of the official template, as extracted from one document."""

    section: str  # 二, 三 or 四
    row_path: str
    col_path: str
    value: int | float | None
    raw_text: str
    confidence: float
    status: str  # see STATUSES
    page: int | None = None
    bbox: BBox | None = None
    template: str | None = None
    alternatives: CharAlternatives = field(default_factory=list)
    insertions: list[tuple[int, str, float]] = field(default_factory=list)
    # "ruled": found in a grid of printed rules; "aligned": placed by text alignment;
    # "irregular": in a ruled table whose value columns the grid does not map one to
    # one (a value cell spanning two columns, or reaching into the labels), so which
    # column each value belongs to is not sure.
    placement: str = "ruled"
    # Why the cell is not plain `ok`: the equation that failed or decided it, or why
    # nothing could check it. Empty for `ok` cells.
    reason: str = ""
    # Ids of the equations (constraints) this cell takes part in, e.g. "三.row.自然人".
    equations: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.section}|{self.row_path}|{self.col_path}"


@dataclass
class DocumentResult:
    """The outcome for one input document, successful or not."""

    document: str
    sha256: str
    status: str  # done or failed
    agency: str | None = None
    year: int | None = None
    templates: dict[str, str] = field(default_factory=dict)  # section -> 2019/2021/mixed
    pages: int = 0
    cells: list[CanonicalCell] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    # Equations that do not hold as printed/read, each {"id", "equation", "left",
    # "right", "cells": [keys], "fix": {"key", "value"} | None}.
    failed_equations: list[dict[str, Any]] = field(default_factory=list)
    # Per page: {"page", "source", "rotation", "skew", "width", "height"}: how the
    # upright frame that bboxes refer to was made from the file's page (for crops).
    page_geometry: list[dict[str, Any]] = field(default_factory=list)
    # Audit trail of review corrections, each {"key", "old", "new", "who", "when", "file"}.
    corrections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cells_found(self) -> int:
        return sum(1 for c in self.cells if c.status != "missing")

    @property
    def cells_flagged(self) -> int:
        """Cells a person should look at (a corrected cell has been looked at)."""
        return sum(1 for c in self.cells if c.status not in ("ok", "corrected"))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["cells_found"] = self.cells_found
        d["cells_flagged"] = self.cells_flagged
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DocumentResult:
        """Inverse of :meth:`to_json` (extra keys are ignored)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        cell_names = {f.name for f in fields(CanonicalCell)}
        cells = []
        for c in d.get("cells", []):
            c = {k: v for k, v in c.items() if k in cell_names}
            if c.get("bbox") is not None:
                c["bbox"] = tuple(c["bbox"])
            c["alternatives"] = [[tuple(a) for a in pos] for pos in c.get("alternatives", [])]
            c["insertions"] = [tuple(i) for i in c.get("insertions", [])]
            cells.append(CanonicalCell(**c))
        kw["cells"] = cells
        return cls(**kw)
