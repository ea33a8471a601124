"""Snap detected table grids onto the official template's canonical cells.

Tables are sorted into sections 二/三/四 by their vocabulary, tables that
continue on the next page are joined, and grid rows are aligned to template
rows by fuzzy label similarity *and* order (a monotone dynamic-programming
alignment), so a misread or misprinted label, a repeated header or a page
number between rows does not shift the rows below it. Rows of a table found
from text alignment alone (a fax) are placed mostly by order and by which of
them hold values, since their labels are barely legible. Every canonical cell
is written, found or not.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from tallyscan.exceptions import NoTableFound
from tallyscan.model import CanonicalCell, Cell, PageLayout, Reading, Table
from tallyscan.postprocess.labels import label_similarity, lcs, norm_label
from tallyscan.postprocess.numbers import parse_number
from tallyscan.postprocess.template_data import OK_CONFIDENCE, templates

# A value placed by position because its row's cells do not match the template.
GUESSED_PLACE_CONFIDENCE = 0.5
MATCH_FLOOR = 0.40  # label similarity below this is no evidence at all
# Section 三 "prints its zeros" (so a blank value row is a wrapped label line)
# when at least this many of its value cells are a printed 0 or dash.
PRINTED_ZEROS = 10
# A row without a legible block heading joins the block its label matches by at
# least this much more than any other block's rows.
BLOCK_MARGIN = 0.2
# What the report's year says about its format (2019 format for the 2019 and 2020
# reports, 2021 format from 2021 on) counts as much as one label matched at
# similarity 0.8: it decides when the labels barely tell the versions apart (a
# heavy scan), and yields to a clearly read row of the other format (a 2023
# report printing 2019's single （六） row).
YEAR_PRIOR = 0.40
# Section 三's versions differ in （六）'s rows (2019: one; 2021: three). Each
# template row or grid value row a version leaves unpaired costs this, so the
# grid's count of rows there (one, against three) weighs as much as the year's
# prior and the labels decide between them (syn06016: a 2021 report printing
# 2019's single row, read 「(六)具」).
UNPAIRED_ROW_COST = 0.10
# Rows of a table placed from text alignment alone (no rules; the layout marks
# it ``unruled``) also hold labels' second lines and scraps, and their labels
# are read badly (a fax's glyphs), so a close label match is rare there. Their
# order and their values say more: section 三's template rows come in a known
# order, a label's second line carries no values, and a row with any value
# prints its 总计 too. Matching such a row to a template row earns (on top of
# whatever its label adds):
UNRULED_VALUE_ROW_GAIN = 1.0  # a total and another value: surely a template row
UNRULED_SCRAP_ROW_GAIN = 0.25  # values without a total (a lost digit, or specks)
UNRULED_BLANK_ROW_GAIN = 0.05  # no values: an all-zero row printed blank, or a label's second line
# A label's read is only evidence beyond the order where it is this close.
UNRULED_LABEL_FLOOR = 0.60
# The digit a sub-row label starts with (1. 2. …) is read well even where the
# words after it are not: agreeing with the template row's number earns this,
# contradicting it costs as much.
UNRULED_NUMBER_GAIN = 0.30


def version_for_year(year: int | None) -> str | None:
    """The format a report of ``year`` should use, or None when unknown."""
    if year is None:
        return None
    return "2019" if year <= 2020 else "2021"


@dataclass
class Snapped:
    cells: list[CanonicalCell]
    templates: dict[str, str] = field(default_factory=dict)
    agency: str | None = None
    year: int | None = None


@dataclass
class GridRow:
    """One row of a detected table: cells that start on it, plus spanning context."""

    page: int
    table: Table
    row: int
    cells: list[Cell]  # cells whose top row is this row, left to right

    def cell_at_col(self, col: int) -> Cell | None:
        for c in self.table.cells:
            if c.col <= col < c.col + c.col_span and c.row <= self.row < c.row + c.row_span:
                return c
        return None


# --------------------------------------------------------------------------- #
# Section classification

_VOCAB = {
    "二": ["第二十条第（一）项", "信息内容", "本年制发件数", "本年废止件数", "现行有效件数", "规章",
          "行政规范性文件", "规范性文件", "本年处理决定数量", "行政许可", "行政处罚", "行政强制",
          "行政事业性收费", "本年收费金额（单位：万元）", "本年新制作数量", "本年新公开数量", "对外公开总数量",
          "上一年项目数量", "本年增/减", "处理决定数量", "其他对外管理服务事项", "政府集中采购", "采购项目数量",
          "采购总金额"],
    "四": ["行政复议", "行政诉讼", "未经复议直接起诉", "复议后起诉", "结果维持", "结果纠正", "其他结果", "尚未审结"],
}


@cache
def _vocab_三() -> list[str]:
    t = templates()["三"]
    words = {p for v in t.values() for r in v["rows"] for p in r.split("/")}
    words |= {"申请人情况", "自然人", "法人或其他组织", "商业企业", "科研机构", "社会公益组织", "法律服务机构"}
    return sorted(words)


def classify_table(table: Table) -> str | None:
    """Which section a table belongs to, from how well its texts fit each
    vocabulary; or, first, from its shape: a short table with a row of section
    四's fifteen numbers is 四 whatever its headers read as (read by their
    first characters, a header split by a stray stroke, 行 | 政复, fits 二's
    行政许可 as well as 四's 行政复议)."""
    if is_section_四_by_shape(table):
        return "四"
    texts = [c.text for c in table.cells if c.text and not is_numberish(c.text)]
    if not texts:
        return None
    vocab = {"二": _VOCAB["二"], "三": _vocab_三(), "四": _VOCAB["四"]}
    scores = {}
    for sec, words in vocab.items():
        s = 0.0
        for t in texts:
            best = max(label_similarity(t, w) for w in words)
            if best >= 0.6:
                s += best
        scores[sec] = s
    sec = max(scores, key=scores.get)
    return sec if scores[sec] > 0 else None


# Section 四 is one header block over one row of fifteen numbers: a table of
# at most this many rows may be it.
SECTION_四_MAX_ROWS = 6


def section_四_columns() -> list[str]:
    """Section 四's canonical columns, in order (the same in every template)."""
    return templates()["四"]["any"]["columns"]


def is_section_四_by_shape(table: Table) -> bool:
    """A short table with a row of (nearly) section 四's fifteen printed
    numbers is 四, whatever its headers read as; so is one of exactly fifteen
    columns (no other table of the template is that wide) whose last row
    holds at least three. Judged on the value cells' readings alone, so the
    OCR stage can leave such a table's headers unread."""
    if table.n_rows > SECTION_四_MAX_ROWS:
        return False
    n_四 = len(section_四_columns())
    per_row: dict[int, int] = {}
    for c in table.cells:
        if c.col_span == 1 and c.text and is_numberish(c.text):
            per_row[c.row] = per_row.get(c.row, 0) + 1
    if table.n_cols == n_四 and per_row.get(table.n_rows - 1, 0) >= 3:
        return True
    return max(per_row.values(), default=0) >= n_四 - 2


def is_numberish(text: str) -> bool:
    """A value cell's text (a number, a dash, blank), not words."""
    return parse_number(text).kind in {"number", "dotted", "split", "zero-mark", "blank"} and not re.search(r"[\u4e00-\u9fff]{2}", text)


# --------------------------------------------------------------------------- #
# Title


_TITLE = re.compile(r"^(?P<agency>.+?)(?P<year>(19|20)\d{2})\s*年(度)?(政|信|年|工)")


def title_match(text: str) -> re.Match | None:
    """The agency and year in (the start of) a report title, if it holds both."""
    return _TITLE.search(unicodedata.normalize("NFKC", text).replace(" ", ""))


def read_title(pages: list[PageLayout]) -> tuple[str | None, int | None]:
    """Agency and year from the report title on the first page."""
    if not pages:
        return None, None
    lines = sorted(pages[0].lines, key=lambda ln: ln.bbox[1])[:4]
    text = ""
    for ln in lines:
        text += unicodedata.normalize("NFKC", ln.text).replace(" ", "")
        m = _TITLE.search(text)
        if m:
            agency = m.group("agency").strip("《》 ")
            return (agency or None), int(m.group("year"))
    return None, None


# --------------------------------------------------------------------------- #
# Alignment


def align(observed: list[str], canonical: list[str],
          floors: list[float] | None = None,
          row_gains: list[float] | None = None) -> tuple[dict[int, int], float]:
    """Monotone alignment of observed labels to canonical rows.

    Returns {canonical index: observed index} and the total score. Rows may be
    skipped on either side: observed headers and page furniture, canonical rows
    that are absent. Matching a pair earns (similarity - MATCH_FLOOR).
    ``floors`` asks a row for a closer label match than MATCH_FLOOR before its
    label counts; ``row_gains`` gives a row a gain for being matched at all
    (evidence other than its label: see :func:`unruled_row_gain`), so a row with
    an unreadable label still takes its place in the order.
    """
    n, m = len(observed), len(canonical)
    sim = [[label_similarity(o, c) if o else 0.0 for c in canonical] for o in observed]
    if floors is not None:
        sim = [[v if v >= f else 0.0 for v in row] for row, f in zip(sim, floors, strict=True)]
    gains = row_gains if row_gains is not None else [0.0] * n
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            options = [(best[i + 1][j], 1), (best[i][j + 1], 2)]
            if gains[i] > 0:
                # The row's own evidence places it; its label adds, or its
                # number speaks against the place.
                gain = (gains[i] + max(sim[i][j] - MATCH_FLOOR, 0.0)
                        + UNRULED_NUMBER_GAIN * numbering_agreement(observed[i], canonical[j]))
            else:
                gain = sim[i][j] - MATCH_FLOOR
            if gain > 0:
                options.append((best[i + 1][j + 1] + gain, 3))
            best[i][j], move[i][j] = max(options)
    pairs: dict[int, int] = {}
    i = j = 0
    while i < n and j < m:
        mv = move[i][j]
        if mv == 3:
            pairs[j] = i
            i, j = i + 1, j + 1
        elif mv == 1:
            i += 1
        else:
            j += 1
    return pairs, best[0][0]


_NUMBERED = re.compile(r"^(\d)(?!\d)")


def numbering_agreement(observed: str, canonical: str) -> int:
    """+1 when an observed label's leading sub-row number (1. 2. …) is the
    canonical label's, -1 when it is another or the canonical label has none,
    0 when the observed label starts with no number."""
    m = _NUMBERED.match(norm_label(observed))
    if m is None:
        return 0
    c = _NUMBERED.match(norm_label(canonical))
    return 1 if c is not None and c.group(1) == m.group(1) else -1


def unruled_row_gain(slots: list[Cell | None]) -> float:
    """What an unruled section 三 row's values say about it being a template row
    (see UNRULED_VALUE_ROW_GAIN): the last slot is the row's 总计."""
    printed = [c is not None and bool(c.text.strip()) for c in slots]
    if printed[-1] and sum(printed) >= 2:
        return UNRULED_VALUE_ROW_GAIN
    if any(printed):
        return UNRULED_SCRAP_ROW_GAIN
    return UNRULED_BLANK_ROW_GAIN


def fill_by_order(pairs: dict[int, int], n_obs: int, n_can: int, usable: list[bool]) -> dict[int, int]:
    """Between two anchored rows, pair the unanchored rows by order when their
    counts agree (a label the OCR could not read still has its place)."""
    out = dict(pairs)
    anchors = sorted(pairs.items())
    bounds = [(-1, -1)] + anchors + [(n_can, n_obs)]
    for (c0, o0), (c1, o1) in zip(bounds, bounds[1:], strict=False):
        cans = list(range(c0 + 1, c1))
        obs = [i for i in range(o0 + 1, o1) if usable[i]]
        if cans and len(cans) == len(obs):
            out.update(zip(cans, obs, strict=True))
    return out


# --------------------------------------------------------------------------- #
# Cells


_CUT_SHORT = re.compile(r"\d[.,，．]\s*$")


def make_cell(section: str, row_path: str, col_path: str, cell: Cell | None, page: int | None,
              template: str, decimal: bool = False, table: Table | None = None,
              guess: str | None = None, irregular: bool = False, signed: bool = False) -> CanonicalCell:
    """The canonical cell read from grid cell ``cell`` (None: missing).

    ``guess`` says why the grid cell was chosen by position rather than by the
    row's structure: such a cell is never trusted on its confidence alone.
    ``irregular`` marks a cell of a table whose value columns the grid does not
    map one to one (see :func:`_irregular_tables`).
    """
    if cell is None:
        return CanonicalCell(section, row_path, col_path, None, "", 0.0, "missing", template=template)
    reading: Reading = cell.reading
    parsed = parse_number(reading.text, decimal=decimal, signed=signed, minus_seen=reading.sign_mark)
    confidence = float(reading.confidence)
    # Readings never trusted on the recogniser's confidence alone, however sure it is.
    if not guess and _CUT_SHORT.search(reading.text):
        # "3086." for 3086.22: digits after a point or comma were lost (cut off by the crop or faded).
        guess = f"read {reading.text!r}: digits after its last separator may be lost"
    elif not guess and parsed.kind == "dotted":
        guess = f"read {reading.text!r}: a count has no decimals, so its point was taken for a speck"
    elif not guess and parsed.kind == "split":
        guess = f"read {reading.text!r}: digits on both sides of a mark that is not a decimal point"
    elif not guess and parsed.kind == "shrunk-sign":
        guess = f"read {reading.text!r}: the dot before the digits was taken for a minus sign"
    elif not guess and signed and reading.mark_before and parsed.value:
        guess = (f"read {reading.text!r}, with a mark just left of it that a second reading "
                 "read past: a minus sign worn to a speck?")
    elif not guess and parsed.kind == "sign-mark":
        guess = (f"read {reading.text!r}, but as a minus sign before the same digits with the "
                 "ink just left of them in view: taken for a minus sign")
    if guess:
        confidence = min(confidence, GUESSED_PLACE_CONFIDENCE)
    status = "ok"
    if parsed.value is None or confidence < OK_CONFIDENCE:
        status = "low_confidence"
    return CanonicalCell(
        section=section, row_path=row_path, col_path=col_path, value=parsed.value,
        raw_text=reading.text, confidence=round(confidence, 4), status=status, reason=guess or "",
        page=page, bbox=tuple(round(v, 1) for v in cell.bbox), template=template,
        alternatives=reading.alternatives, insertions=list(reading.insertions),
        placement=("aligned" if table is not None and table.unruled
                   else "irregular" if irregular else "ruled"),
    )


def _rows_of(tables: list[Table]) -> list[GridRow]:
    rows = []
    for t in tables:
        for r, cells in enumerate(t.rows()):
            rows.append(GridRow(page=t.page, table=t, row=r, cells=cells))
    return rows


def _label_text(row: GridRow, first_value_col: int) -> str:
    """The row's own label: label-area cells starting on it, one-row cells first."""
    label_cells = [c for c in row.cells if c.col < first_value_col]
    own = [c for c in label_cells if c.row_span == 1] or label_cells
    return "".join(c.text for c in own)


def snap_section_三(tables: list[Table], prior: str | None = None) -> tuple[list[CanonicalCell], str]:
    cols = templates()["三"]["2021"]["columns"]
    k = len(cols)
    rows = _rows_of(tables)
    # Each table's value columns: its last k (before a phantom last one), not
    # counting column edges that one row's split alone made.
    rare = {id(t): _rare_edges(t) for t in tables}
    value_cols = {id(t): _value_columns(t, k, rare[id(t)]) for t in tables}
    firsts = {key: cols_[0] for key, cols_ in value_cols.items()}
    labels, value_slots = [], []
    for row in rows:
        columns = value_cols[id(row.table)]
        first_value = columns[0]
        labels.append(_label_text(row, first_value) if first_value > 0 else "")
        split = {c.col for c in row.cells if c.row == row.row} & rare[id(row.table)]
        slots = []
        for j, col in enumerate(columns):
            c = row.cell_at_col(col) if col >= 0 else None
            end = columns[j + 1] if j + 1 < len(columns) else row.table.n_cols
            if any(col < e < end for e in split):
                c = None  # this row alone is split inside the column: its value is unsure
            # A value belongs to the row it starts on; a cell spanning rows is header.
            slots.append(c if c is not None and c.row == row.row and c.row_span == 1 else None)
        value_slots.append(slots)
    leaf = {v: [r.split("/")[-1] for r in templates()["三"][v]["rows"]] for v in ("2021", "2019")}
    unruled = [r.table.unruled for r in rows]
    floors = [UNRULED_LABEL_FLOOR if u else 0.0 for u in unruled]
    gains = [unruled_row_gain(slots) if u else 0.0 for slots, u in zip(value_slots, unruled, strict=True)]
    results = {v: align(labels, leaf[v], floors, gains) for v in leaf}
    usable = _value_rows(value_slots, unruled)
    filled = {v: fill_by_order(results[v][0], len(rows), len(leaf[v]), usable) for v in leaf}

    def unpaired(v: str) -> int:
        # Template rows left without a grid row, and value rows left without
        # a template row: the versions differ in （六）'s rows only, so this
        # counts how well their number fits the grid's rows there.
        return (len(leaf[v]) - len(filled[v])) + (sum(usable) - sum(usable[i] for i in filled[v].values()))

    version = max(results, key=lambda v: results[v][1] + (YEAR_PRIOR if v == prior else 0.0)
                  - UNPAIRED_ROW_COST * unpaired(v))
    pairs = filled[version]
    irregular = _irregular_tables([rows[i] for i in pairs.values()],
                                  [value_slots[i] for i in pairs.values()], firsts)
    out = []
    for j, row_path in enumerate(templates()["三"][version]["rows"]):
        i = pairs.get(j)
        for ci, col in enumerate(cols):
            cell = value_slots[i][ci] if i is not None else None
            out.append(make_cell("三", row_path, col, cell, rows[i].page if i is not None else None, version,
                                 table=rows[i].table if i is not None else None,
                                 irregular=i is not None and id(rows[i].table) in irregular))
    return out, version


def _row_sums_holding(table: Table, first: int, k: int) -> int:
    """How many rows of the table satisfy section 三's row sum (its template's
    "each row" constraint) with the values read from its ``k`` columns from
    ``first`` on, counting rows whose total is not zero only (a row of zeros
    fits any columns)."""
    cols = templates()["三"]["2021"]["columns"]
    (rule,) = [c for c in templates()["三"]["2021"]["constraints"] if c["each"] == "row"]
    total, parts = cols.index(rule["total"]), [cols.index(p) for p in rule["parts"]]
    held = 0
    for r in range(table.n_rows):
        row = GridRow(page=table.page, table=table, row=r, cells=[])
        values = []
        for j in range(k):
            c = row.cell_at_col(first + j)
            v = parse_number(c.text).value if c is not None and c.row == r else None
            values.append(0 if c is not None and not c.text.strip() else v)
        if any(v is None for v in values):
            continue
        if values[total] and values[total] == sum(values[p] for p in parts):
            held += 1
    return held


def _rare_edges(table: Table) -> set[int]:
    """Column edges (by the column they start) that only one row has, while
    at least RARE_EDGE_ROWS rows run a cell across them: that row's split (a
    seal's stroke, two digits set apart), not a column of the table."""
    present: dict[int, int] = defaultdict(int)
    across: dict[int, int] = defaultdict(int)
    for c in table.cells:
        present[c.col] += c.row_span
        for j in range(c.col + 1, c.col + c.col_span):
            across[j] += c.row_span
    return {j for j in range(1, table.n_cols) if present[j] <= 1 and across[j] >= RARE_EDGE_ROWS}


def _value_columns(table: Table, k: int, rare: set[int]) -> list[int]:
    """Section 三's ``k`` value columns of a table (negative where the table
    has too few): its last ``k`` (before a phantom last one), not counting
    ``rare`` edges (:func:`_rare_edges`): counted as columns, they put every
    row's values one column off (syn10014)."""
    n = table.n_cols
    if not rare:
        first = n - k - int(_phantom_last_column(table, k))
        return list(range(first, first + k))
    real = [j for j in range(n) if j not in rare]
    return ([-1] * k + real)[-k:]


# A column edge is one row's split when at least this many rows span it.
RARE_EDGE_ROWS = 3


# A table's last column is taken for a phantom (a stray rule right of the
# table) when dropping it makes at least this many rows' sums hold, and
# more than twice as many as keeping it.
PHANTOM_MIN_ROWS = 3


def _phantom_last_column(table: Table, k: int) -> bool:
    """Whether section 三's values sit in the ``k`` columns before the table's
    last one: a column of blanks (or specks read as dashes) that the grid
    added at the right (a stray rule beside the table, a doubled border)
    would otherwise shift every value one column left, the same in every
    row. The row sums decide: they hold, in rows with numbers in them, only
    with the values in their own columns."""
    n = table.n_cols
    if n - k - 1 < 1 or any(c.text.strip() and parse_number(c.text).value != 0
                            for c in table.cells if c.col == n - 1):
        return False
    dropped = _row_sums_holding(table, n - k - 1, k)
    return dropped >= PHANTOM_MIN_ROWS and dropped > 2 * _row_sums_holding(table, n - k, k)


def _value_rows(value_slots: list[list[Cell | None]], unruled: list[bool]) -> list[bool]:
    """Which rows of ruled tables are rows of values, for placing rows by order."""
    # A header row has cells in the value columns too, but they hold words
    # (自然人; or were left unread as words) or span several value columns
    # (申请人情况, 法人或其他组织; a broken rule joins two at most).
    rows = [any(s is not None for s in slots) and not u
            and all(s.col_span <= 2 and not s.reading.unread and is_numberish(s.text)
                    for s in slots if s is not None)
            for slots, u in zip(value_slots, unruled, strict=True)]
    # Where zeros are printed (0 or —), a row of blank value cells is a label's
    # wrapped line that the grid gave a row of its own, not a template row.
    printed_zeros = sum(1 for slots, ok in zip(value_slots, rows, strict=True) if ok
                        for s in slots if s is not None and s.text.strip()
                        and parse_number(s.text).value == 0)
    if printed_zeros < PRINTED_ZEROS:
        return rows
    return [ok and any(s is not None and s.text.strip() for s in slots)
            for slots, ok in zip(value_slots, rows, strict=True)]


def _irregular_tables(rows: list[GridRow], value_slots: list[list[Cell | None]],
                      firsts: dict[int, int]) -> set[int]:
    """ids of the tables whose value columns the grid does not map one to one.

    Values are taken from each table's k columns from ``firsts[id(table)]``
    on (its last k, or those before a phantom last one: see
    :func:`_phantom_last_column`). A data row's
    value cell spanning two columns, or one reaching left into the label
    columns, means the grid has a column too many or too few somewhere (a
    rule lost or a stray stroke taken for one), so every value of the table
    may sit one column off; the sums cannot see a shift that is the same in
    every row.
    """
    out = set()
    for row, slots in zip(rows, value_slots, strict=True):
        first_value = firsts[id(row.table)]
        for c in slots:
            if c is not None and (c.col_span > 1 or c.col < first_value):
                out.add(id(row.table))
                break
    return out


# In a table of exactly section 四's fifteen columns each column is the
# template's: a data row missing a few cells (a rule lost under one, two cells
# run together) keeps the rest, placed by column, if this many are there.
SECTION_四_MIN_PLACED = 10


# A cell of section 四's data row narrower than this share of the row's
# usual cell holds no column's value: a doubled rule, or a stray stroke
# beside one, cut it off (held-out syn17013: a rule's piece there read as a
# digit, and every value placed one column off).
SECTION_四_SLIVER = 0.6


def snap_section_四(tables: list[Table]) -> list[CanonicalCell]:
    """Section 四's fifteen cells from its data row: the row of (nearly) fifteen
    numbers with the most printed ones, in order; in a table of fifteen columns,
    by column, so that cells lost from the row leave only their own columns
    ``missing``."""
    cols = section_四_columns()
    placed: dict[int, Cell] = {}
    page = None
    table = None
    best = -1
    irregular = False
    for row in _rows_of(tables):
        if row.table.unruled and row.row != row.table.n_rows - 1:
            # A table found from text alignment ends at its last line of
            # values: the lines above are headers, whose fragments on a faded
            # page read as numbers too.
            continue
        singles = [c for c in row.cells if c.col_span == 1]
        by_column = row.table.n_cols == len(cols)
        spanned = False
        if not by_column and len(singles) < len(cols):
            # A stray stroke through the headers (a seal's ring) adds a column
            # edge that the data row does not have: its fifteen cells, one of
            # them two columns wide, are still the fifteen values in order.
            own = [c for c in row.cells if c.row == row.row and c.row_span == 1]
            if len(own) == len(cols) and max(c.col_span for c in own) == 2:
                singles, spanned = own, True
        numberish = sum(1 for c in singles if not c.reading.unread and is_numberish(c.text))
        need = SECTION_四_MIN_PLACED if by_column else len(cols) - 2
        if len(singles) >= need and numberish >= need:
            # The row with the most printed numbers (a row of empty cells below
            # the data, cut off a broken rule, is numberish too); the last of equals.
            printed = sum(1 for c in singles if c.text and is_numberish(c.text))
            if printed >= best:
                best = printed
                page, table = row.page, row.table
                extra = len(singles) - len(cols)
                if by_column:
                    placed = {c.col: c for c in singles}
                else:
                    # More cells than columns: a stray stroke cut one in two.
                    # Slivers go first, whatever they read (a rule's piece),
                    # then the blank narrowest, then the first (a label's scrap).
                    ordered = sorted(singles, key=lambda c: c.col)
                    if extra > 0:
                        by_width = sorted(ordered, key=_width)
                        usual = _width(by_width[len(by_width) // 2])
                        drop = {id(c) for c in by_width[:extra] if _width(c) < SECTION_四_SLIVER * usual}
                        blank = [c for c in by_width if not c.text.strip() and id(c) not in drop]
                        drop |= {id(c) for c in blank[: extra - len(drop)]}
                        ordered = [c for c in ordered if id(c) not in drop]
                    ordered = ordered[-len(cols):]
                    placed = dict(enumerate(ordered)) if len(ordered) == len(cols) else {}
                # A row that lost cells was cut by a grid that failed there, one
                # with cells to spare by one that drew a stray edge (syn09035: a
                # 6 placed a column off, then called ok), and one placed across a
                # column edge of its own table sits on a grid that contradicts
                # itself: what is placed is not vouched for by the grid (nor
                # taken as evidence of how the report prints zeros).
                irregular = spanned or 0 < len(placed) < len(cols) or extra > 0
    if not placed:
        blank = _blank_data_row(tables, len(cols))
        if blank is not None:
            # Where nothing is printed, which column is which does not matter:
            # every cell is blank. The grid still did not show the columns, so
            # the cells are not vouched for by it.
            table, placed = blank
            page, irregular = table.page, True
    return [make_cell("四", "", col, placed.get(i), page, "any", table=table, irregular=irregular)
            for i, col in enumerate(cols)]


def _width(cell: Cell) -> float:
    return cell.bbox[2] - cell.bbox[0]


def _blank_data_row(tables: list[Table], n: int) -> tuple[Table, dict[int, Cell]] | None:
    """Section 四's data row when its grid lost columns but the row holds no
    print at all (a report that leaves zeros blank, or whose dashes faded): the
    last row of a table of header rows over it, blank but for a scrap or two
    (no sure digit, no word), as ``n`` blank cells of equal width across it, by column."""
    for t in tables:
        if t.n_rows < 2:
            continue
        last = [c for c in t.cells if c.row + c.row_span == t.n_rows]
        # A seal over the row may leave a scrap read as a character or two, an
        # unsure digit at most (syn06025: its ring's edge read as 1 at 0.42); a
        # row of headers (its data row lost to the next page) is words.
        texts = [c.text.strip() for c in last]
        if (not last or any(c.row != t.n_rows - 1 or c.reading.unread for c in last)
                or any(len(x) > 1 or (re.search(r"\d", x) and c.reading.confidence >= OK_CONFIDENCE)
                       for c, x in zip(last, texts, strict=True))
                or sum(map(bool, texts)) > 2):
            continue
        x0, y0, x1, y1 = t.col_edges[0], t.row_edges[-2], t.col_edges[-1], t.row_edges[-1]
        w = (x1 - x0) / n
        sure = 0.5 if any(texts) else 1.0
        return t, {i: Cell(row=t.n_rows - 1, col=i, bbox=(x0 + i * w, y0, x0 + (i + 1) * w, y1),
                           reading=Reading.empty(sure)) for i in range(n)}
    return None


_BLOCK = re.compile(r"第?二十条第?[(（]?([一二三四五六七八九十]{1,2})[)）]?")
_BLOCK_NAMES = {"一": "第二十条第（一）项", "五": "第二十条第（五）项", "六": "第二十条第（六）项",
                "八": "第二十条第（八）项", "九": "第二十条第（九）项"}


# A heading read without its 第二十条 (see scan.HEADING_SKIP_CHARS): 第（一）项.
_ITEM = re.compile(r"^第?[(（]([一二三四五六七八九十]{1,2})[)）]?")


def heading_item(text: str) -> str | None:
    """The item number of a heading read from its item on, 第（五）项 -> 五."""
    m = _ITEM.match(norm_label(text))
    return m.group(1) if m and m.group(1) in _BLOCK_NAMES else None


def _block_of(text: str) -> str | None:
    item = heading_item(text)
    if item:
        return _BLOCK_NAMES[item]
    t = norm_label(text)
    if "二十条" not in t and "十条第" not in t and not t.startswith("第二"):
        return None
    m = _BLOCK.search(t)
    if m and m.group(1) in _BLOCK_NAMES:
        return _BLOCK_NAMES[m.group(1)]
    return None


def snap_section_二(tables: list[Table], prior: str | None = None) -> tuple[list[CanonicalCell], str]:
    rows = _rows_of(tables)
    # Walk rows once, noting block headings, header rows and data rows.
    observed: list[tuple[str | None, GridRow, list[Cell], list[Cell] | None]] = []
    block: str | None = None
    header: list[Cell] | None = None
    for row in rows:
        texts = [c for c in row.cells if c.text]
        # A block heading spans the table; a stray line piece may split it in
        # two, and where the rules under it are lost it spans only part of the
        # row, beside empty cells; columns the grid found below it may cut it
        # into pieces (第二 | 十条 | )项). (Its item read alone may end in a
        # speck read as a digit: 第（六)1.)
        text = "".join(c.text for c in row.cells)
        if len(row.cells) <= 2 or len(texts) == 1 or "二十条" in norm_label(text):
            b = _block_of(text)
            if b:
                block, header = b, None
                continue
            if "二十" in norm_label(text) and not any(is_numberish(c.text) and c.text for c in row.cells):
                # A heading too broken to name its block: the rows below are in
                # a new block, found by their labels.
                block, header = None, None
                continue
        if not row.cells:
            continue
        first = row.cells[0]
        if label_similarity(first.text, "信息内容") >= 0.6:
            header = row.cells[1:]
            continue
        if texts:
            observed.append((block, row, row.cells[1:], header))
    scores = {}
    for version, tpl in templates()["二"].items():
        s = 0.0
        for b in tpl["blocks"]:
            for blk, row, values, hdr in observed:
                if blk != b["heading"]:
                    continue
                best = max(label_similarity(row.cells[0].text, r) for r in b["rows"])
                s += best + (0.5 if len(values) == len(b["columns"]) else -0.5)
                if hdr and len(hdr) == len(b["columns"]):
                    s += sum(label_similarity(h.text, name) for h, name in zip(hdr, b["columns"], strict=True)) / len(hdr)
        # A row under no legible heading still tells the version by its label
        # (其他对外管理服务事项 and 政府集中采购 are 2019's only).
        names = [r for b in tpl["blocks"] for r in b["rows"]]
        for blk, row, _values, _hdr in observed:
            if blk is None:
                best = max(label_similarity(row.cells[0].text, r) for r in names)
                s += best if best > MATCH_FLOOR else 0.0
        scores[version] = s
    for v in scores:
        scores[v] += YEAR_PRIOR if v == prior else 0.0
    version = max(scores, key=scores.get) if observed else (prior or "2021")
    blocks = templates()["二"][version]["blocks"]
    # A row seen before any legible heading (its table continues one whose
    # heading was lost, or sits on the next page) belongs to the block whose
    # row names its label matches: no name is in two blocks.
    observed = [(blk or _block_by_label(row.cells[0].text, blocks), row, values, hdr)
                for blk, row, values, hdr in observed]
    unplaced = [o for o in observed if o[0] is None]
    moved: dict[str, list] = {}  # rows a block passes on to a later one
    out = []
    for k, b in enumerate(blocks):
        candidates = [(blk, row, values, hdr) for blk, row, values, hdr in observed if blk == b["heading"]]
        candidates += moved.pop(b["heading"], [])
        # Each grid row goes to at most one of the block's rows, best matches
        # first: a row whose own label was lost must not take its neighbour's values.
        pairs = sorted(((label_similarity(row.cells[0].text, label), li, ri)
                        for li, label in enumerate(b["rows"])
                        for ri, (_blk, row, _v, _h) in enumerate(candidates)), reverse=True)
        match: dict[int, int] = {}
        for s, li, ri in pairs:
            if s > MATCH_FLOOR and li not in match and ri not in match.values():
                match[li] = ri
        by_order = _rows_by_order(b, candidates, match, unplaced)
        # A row left over whose label names a later block's row clearly: the
        # heading between them was missed (第二十条第（六）项 read as — | 第二),
        # so (六)'s rows came under (五), whose own rows matched better ones.
        later = {c["heading"] for c in blocks[k + 1:]}
        for ri, (_blk, row, values, hdr) in enumerate(candidates):
            other = None if ri in match.values() else _block_by_label(row.cells[0].text, blocks)
            if other in later:
                moved.setdefault(other, []).append((other, row, values, hdr))
        for li, label in enumerate(b["rows"]):
            found = candidates[match[li]][1:] if li in match else None
            for ci, col in enumerate(b["columns"]):
                cell, exact = None, True
                if found is not None:
                    row, values, hdr = found
                    cell, exact = _value_for_column(values, hdr, ci, b["columns"])
                guess = None if exact else (
                    f"the row's {len(values)} value cells do not line up with the "
                    f"template's {len(b['columns'])} columns under its header; placed by position")
                if li in by_order:
                    guess = ("its label was not legible; the row is placed by the order of the "
                             "rows beside it" + (f", and {guess}" if guess else ""))
                out.append(make_cell("二", f"{b['heading']}/{label}", col, cell,
                                     found[0].page if found else None, version,
                                     decimal=b.get("decimal", False), signed=col in b.get("signed", ()),
                                     table=found[0].table if found else None, guess=guess))
    return out, version


def _rows_by_order(block: dict, candidates: list, match: dict[int, int], unplaced: list) -> set[int]:
    """Template rows of ``block`` left without a grid row, given the grid row
    whose label matched nothing (in this block, or in no block where its
    heading was lost) and that lies right where the template puts it: just
    above the row matched to the next template row, or just below the one
    matched to the previous (规章 read as 現序 above 行政规范性文件). Updates
    ``candidates``, ``match`` and ``unplaced``; returns the rows' indices."""
    placed: set[int] = set()
    for li in range(len(block["rows"])):
        if li in match:
            continue
        for neighbour, step in ((li + 1, -1), (li - 1, 1)):
            if neighbour not in match:
                continue
            beside = candidates[match[neighbour]][1]
            table, row = beside.table, beside.row + step
            taken = set(match.values())
            ri = next((i for i, o in enumerate(candidates)
                       if i not in taken and o[1].table is table and o[1].row == row), None)
            if ri is None:
                orphan = next((o for o in unplaced if o[1].table is table and o[1].row == row), None)
                if orphan is None:
                    continue
                unplaced.remove(orphan)
                candidates.append((block["heading"], *orphan[1:]))
                ri = len(candidates) - 1
            match[li] = ri
            placed.add(li)
            break
    # One row of the block left, and one of its grid rows left unmatched
    # (行政事业性收费, the only row of (八), read as "ins"): that one.
    free = [li for li in range(len(block["rows"])) if li not in match]
    rest = [ri for ri in range(len(candidates)) if ri not in match.values()]
    if len(free) == 1 and len(rest) == 1:
        match[free[0]] = rest[0]
        placed.add(free[0])
    return placed


def _block_by_label(label: str, blocks: list[dict]) -> str | None:
    """The heading of the block with a row ``label`` matches clearly better than
    any other block's rows (行政处 is 行政处罚's, though 行政许可 shares 行政), or None."""
    scores = sorted(((max(label_similarity(label, r) for r in b["rows"]), b["heading"]) for b in blocks),
                    reverse=True)
    (best, heading), runner_up = scores[0], scores[1][0] if len(scores) > 1 else 0.0
    return heading if best > MATCH_FLOOR and best - runner_up >= BLOCK_MARGIN else None


def _under_header(values: list[Cell], header: list[Cell], names: list[str]) -> bool:
    """Whether each value cell's middle lies within the header cell of its
    place, and the header reads as the template's columns in place rather than
    shifted by one (a grid that lost a whole column, header and values alike,
    still lines up, but its 本年 header sits where 上一年 should)."""
    if len(header) != len(values) or len(names) != len(values):
        return False
    if not all(h.bbox[0] <= (v.bbox[0] + v.bbox[2]) / 2 <= h.bbox[2]
               for v, h in zip(values, header, strict=True)):
        return False
    texts = [h.text for h in header]
    # No header cell names another column better than its own and better
    # than that column's own header does (本年, the start of 本年增/减, where
    # 上一年项目数量 should be, over 本年增/减's illegible cell: the grid shifted
    # the row under a header that lost its first cell). Two cells read alike
    # (采购项 twice) say nothing of a shift.
    fits = [[_header_fit(text, name) for name in names] for text in texts]
    for i in range(len(texts)):
        if any(fits[i][j] > fits[i][i] and fits[i][j] > fits[j][j] for j in range(len(names)) if j != i):
            return False

    def fit(shift: int) -> float:
        return sum(_starts_name(texts[i], names[i + shift])
                   for i in range(len(texts)) if 0 <= i + shift < len(names))

    return fit(0) >= max(fit(-1), fit(1))


def _header_fit(text: str, column: str) -> float:
    """How well a header cell's text names a column, read whole or by its
    first characters (本年 of 本年增/减)."""
    return max(label_similarity(text, column), _starts_name(text, column))


def _starts_name(observed: str, name: str) -> float:
    """0..1: how much of a header read by its first characters ("本年",
    "上一") is the start of the column's name, in order."""
    o, c = norm_label(observed), norm_label(name)
    return lcs(o, c[: len(o) + 1]) / len(o) if o else 0.0


def _value_for_column(values: list[Cell], header: list[Cell] | None, index: int, names: list[str]
                      ) -> tuple[Cell | None, bool]:
    """The value cell of column ``index``, and whether the row's structure said so exactly:
    as many value cells as the template has columns, each under its own header
    cell when the block's header row was read (no equation checks section 二,
    so the grid itself must vouch for where a number belongs)."""
    name = names[index]
    if len(values) == len(names) and (header is None or _under_header(values, header, names)):
        return values[index], True
    # Stray strokes taken for rules split the row into more cells than the
    # template has columns, the extra ones empty: as many printed cells as
    # columns are the values in order.
    printed = [v for v in values if v.text.strip()]
    if len(values) > len(names) and len(printed) == len(names):
        return printed[index], False
    if header:
        # Headers are read by their first characters (本年 of 本年增/减): a
        # header cell names the column its text best fits, whole or as a start.
        h = max(header, key=lambda c: _header_fit(c.text, name))
        if _header_fit(h.text, name) >= 0.5 and all(_header_fit(h.text, name) > _header_fit(h.text, other)
                                                    for other in names if other != name):
            hx0, hx1 = h.bbox[0], h.bbox[2]
            overlap = [(min(hx1, v.bbox[2]) - max(hx0, v.bbox[0]), v) for v in values]
            ov, cell = max(overlap, key=lambda t: t[0], default=(0, None))
            if ov > 0:
                return cell, False
    # As many value cells as columns under a header that lost a cell (merged
    # into the heading above it, say) or reads as none of the names: in order.
    if len(values) == len(names):
        return values[index], False
    return None, True


# --------------------------------------------------------------------------- #
# Document


def snap_document(pages: list[PageLayout]) -> Snapped:
    """All canonical cells of one report from its pages' layouts."""
    by_section: dict[str, list[Table]] = {"二": [], "三": [], "四": []}
    ordered = sorted((t for p in pages for t in p.tables), key=lambda t: (t.page, t.bbox[1]))
    previous: str | None = None
    for t in ordered:
        # A table of bare numbers (the data row of section 四 pushed onto the
        # next page, say) continues the table before it.
        sec = classify_table(t)
        if t.carried_over and sec != "二":
            continue  # only section 二's last block is known to be carried over so
        sec = sec or previous
        if sec:
            by_section[sec].append(t)
            previous = sec
    if not any(by_section.values()):
        raise NoTableFound("no table of the annual-report template was recognised; "
                           "check that this is a 政府信息公开工作年度报告 and that the scan is legible")
    agency, year = read_title(pages)
    prior = version_for_year(year)
    c2, v2 = snap_section_二(by_section["二"], prior)
    c3, v3 = snap_section_三(by_section["三"], prior)
    c4 = snap_section_四(by_section["四"])
    versions = {"二": v2, "三": v3, "四": "any"}
    chosen = {sec: (v if by_section[sec] else "missing") for sec, v in versions.items()}
    return Snapped(cells=c2 + c3 + c4, templates=chosen, agency=agency, year=year)
