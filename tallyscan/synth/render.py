"""Born-digital annual reports drawn with PyMuPDF, laid out like a Word export.

The page holds a title, short prose paragraphs, the six numbered sections and
the three ruled tables of the official format (merged cells as in the State
Council notices). CJK text uses the built-in ``china-s`` font and ASCII runs
(digits, latin letters) a base-14 latin font, as Word does with mixed-script
text, so the PDF keeps a real text layer. Tables are drawn as vector lines and
continue on the next page when they do not fit, optionally repeating their
header rows.

``render_report`` returns the PDF bytes; ``layout_report`` also returns where
every table cell was drawn (useful as layout ground truth in tests and
benchmarks).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import pymupdf

from .values import (
    SIX_ROW_2019,
    Number,
    collapse_six_row,
    format_number,
    section_spec,
)

CJK_FONT = "china-s"
LATIN_FONTS = {"tiro": "tibo", "helv": "hebo"}  # regular -> bold
ZERO_STYLES = ("0", "—", "-", "/", "无", "")
CORNER_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
SECTION3_TOP = "申请人情况"
CLOSING_PUNCT = set("，。、；：？！）》」』”’,.;:!?)%")
INK = (0, 0, 0)

Box = tuple[float, float, float, float]


# --------------------------------------------------------------------------- text


@lru_cache(maxsize=4096)
def _char_width(ch: str, size: float, latin: str) -> float:
    if ord(ch) < 128:
        return pymupdf.get_text_length(ch, fontname=latin, fontsize=size)
    return size  # china-s: every CJK glyph is one em wide


def _runs(text: str) -> list[tuple[bool, str]]:
    """Split into (is_ascii, run) pieces."""
    out: list[tuple[bool, str]] = []
    for ch in text:
        a = ord(ch) < 128
        if out and out[-1][0] == a:
            out[-1] = (a, out[-1][1] + ch)
        else:
            out.append((a, ch))
    return out


_TOKEN = re.compile(r"[A-Za-z0-9.%+\-/:@_]+|\s+|.", re.S)


def _wrap(
    text: str,
    width: float,
    size: float,
    latin: str,
    first_indent: float = 0.0,
    hang: float | None = None,
) -> list[str]:
    """Greedy line breaking: CJK between any two characters, ASCII runs kept whole."""

    def w(s: str) -> float:
        return sum(_char_width(c, size, latin) for c in s)

    lines: list[str] = []
    line, lw = "", 0.0
    avail = width - first_indent
    for tok in _TOKEN.findall(text):
        tw = w(tok)
        if not line and tok.isspace():
            continue
        if lw + tw <= avail + 1e-6 or not line:
            if tw > avail and not line and len(tok) > 1:
                # an ASCII run wider than the line: break it by characters
                for ch in tok:
                    cw = w(ch)
                    if lw + cw > avail + 1e-6 and line:
                        lines.append(line)
                        line, lw, avail = "", 0.0, width
                    line += ch
                    lw += cw
                continue
            line += tok
            lw += tw
        elif tok in CLOSING_PUNCT and lw + tw <= avail + (size if hang is None else hang) + 1e-6:
            line += tok  # let closing punctuation hang, as Word compresses it
            lw += tw
        else:
            lines.append(line.rstrip())
            line, lw, avail = ("", 0.0, width) if tok.isspace() else (tok, tw, width)
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


# --------------------------------------------------------------------------- records


@dataclass
class LaidCell:
    """One table cell as drawn: where, what was printed, what it stands for."""

    section: str
    role: str  # "header", "label", "note", "heading" or "value"
    text: str  # exactly as printed (zero style, misprints)
    canonical: str | None = None  # official label text (label/header/heading cells)
    key: str | None = None  # canonical cell key (value cells)
    boxes: list[tuple[int, Box]] = field(default_factory=list)  # (page index, rect)
    repeat: bool = False  # a repeated header on a continuation page


@dataclass
class RenderedReport:
    pdf: bytes
    pages: int
    cells: list[LaidCell]
    printed: dict[str, Number]  # the values as printed, keyed canonically
    options: dict


@dataclass
class _TCell:
    r: int
    c: int
    rs: int
    cs: int
    text: str
    role: str
    canonical: str | None = None
    key: str | None = None


@dataclass
class _TSpec:
    section: str
    col_w: list[float]
    n_rows: int
    cells: list[_TCell]
    header_rows: int = 0


@dataclass
class _Style:
    page_w: float = 595.3
    page_h: float = 841.9
    margin_l: float = 90.0
    margin_r: float = 90.0
    margin_t: float = 72.0
    margin_b: float = 72.0
    body: float = 11.0
    title: float = 16.0
    heading: float = 12.0
    table: float = 9.0
    leading: float = 1.6
    latin: str = "tiro"
    rule_w: float = 0.5
    cell_pad_x: float = 4.0
    cell_pad_y: float = 1.5
    heading_indent: bool = False
    page_numbers: str | None = "- {n} -"

    @property
    def text_w(self) -> float:
        return self.page_w - self.margin_l - self.margin_r

    @property
    def bottom(self) -> float:
        return self.page_h - self.margin_b


# --------------------------------------------------------------------------- canvas


class _Canvas:
    def __init__(self, style: _Style) -> None:
        self.s = style
        self.doc = pymupdf.open()
        self.n_pages = 0
        self._pages: dict[int, pymupdf.Page] = {}
        self.hsegs: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
        self.vsegs: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
        self.y = 0.0
        self.new_page()

    @property
    def pidx(self) -> int:
        return self.n_pages - 1

    def page(self, pidx: int) -> pymupdf.Page:
        # adding a page orphans earlier Page objects: reload them after each new page
        if pidx not in self._pages:
            self._pages[pidx] = self.doc[pidx]
        return self._pages[pidx]

    def new_page(self) -> None:
        self._pages.clear()
        self.doc.new_page(width=self.s.page_w, height=self.s.page_h)
        self.n_pages += 1
        self.y = self.s.margin_t

    def ensure(self, h: float) -> None:
        if self.y + h > self.s.bottom + 1e-6 and self.y > self.s.margin_t + 1e-6:
            self.new_page()

    def width(self, text: str, size: float) -> float:
        return sum(_char_width(c, size, self.s.latin) for c in text)

    def draw_text(
        self, pidx: int, x: float, baseline: float, text: str, size: float, bold: bool = False
    ) -> None:
        page = self.page(pidx)
        for is_ascii, run in _runs(text):
            if is_ascii:
                font = LATIN_FONTS[self.s.latin] if bold else self.s.latin
                if run.strip():
                    page.insert_text((x, baseline), run, fontname=font, fontsize=size, color=INK)
            else:
                kw = {"render_mode": 2, "border_width": 0.035} if bold else {}
                page.insert_text(
                    (x, baseline), run, fontname=CJK_FONT, fontsize=size, color=INK, fill=INK, **kw
                )
            x += self.width(run, size)

    # ---- flowing text

    def paragraph(
        self,
        text: str,
        size: float,
        *,
        indent_chars: float = 2.0,
        align: str = "left",
        bold: bool = False,
        leading: float | None = None,
        before: float = 0.0,
        after: float = 0.0,
        keep_next: float = 0.0,
    ) -> None:
        lh = size * (leading or self.s.leading)
        x0, w = self.s.margin_l, self.s.text_w
        indent = indent_chars * size
        lines = _wrap(text, w, size, self.s.latin, first_indent=indent)
        self.y += before
        self.ensure(lh + keep_next)
        for i, line in enumerate(lines):
            self.ensure(lh + (keep_next if len(lines) == 1 else 0))
            lw = self.width(line, size)
            if align == "center":
                x = x0 + (w - lw) / 2
            elif align == "right":
                x = x0 + w - lw - size * 2
            else:
                x = x0 + (indent if i == 0 else 0.0)
            baseline = self.y + (lh - size) / 2 + size * 0.86
            self.draw_text(self.pidx, x, baseline, line, size, bold=bold)
            self.y += lh
        self.y += after

    # ---- tables

    def table(
        self, spec: _TSpec, *, repeat_header: bool, keep_before: float = 0.0
    ) -> list[LaidCell]:
        s = self.s
        size = s.table
        lh = size * 1.28
        pad_x, pad_y = s.cell_pad_x, s.cell_pad_y
        x_edges = [0.0]
        for w in spec.col_w:
            x_edges.append(x_edges[-1] + w)
        table_w = x_edges[-1]
        x0 = s.margin_l + (s.text_w - table_w) / 2
        xs = [x0 + e for e in x_edges]

        wrapped: dict[int, list[str]] = {}
        row_h = [lh + 2 * pad_y] * spec.n_rows
        for i, c in enumerate(spec.cells):
            inner = xs[c.c + c.cs] - xs[c.c] - 2 * pad_x
            wrapped[i] = (
                _wrap(c.text, inner, size, s.latin, hang=min(size, 2 * pad_x - 1))
                if c.text
                else [""]
            )
        for rs_pass in sorted({c.rs for c in spec.cells}):
            for i, c in enumerate(spec.cells):
                if c.rs != rs_pass:
                    continue
                need = len(wrapped[i]) * lh + 2 * pad_y
                have = sum(row_h[c.r : c.r + c.rs])
                if need > have:
                    row_h[c.r + c.rs - 1] += need - have

        # pagination: instance 0 is the whole table, later instances repeated headers
        head_h = sum(row_h[: spec.header_rows])
        first_need = head_h + (row_h[spec.header_rows] if spec.header_rows < spec.n_rows else 0)
        self.ensure(keep_before + first_need)
        self.y += keep_before
        instances: list[dict[int, tuple[int, float, float]]] = [{}]
        for r in range(spec.n_rows):
            if self.y + row_h[r] > s.bottom + 1e-6 and self.y > s.margin_t + 1e-6:
                self.new_page()
                if repeat_header and r >= spec.header_rows and spec.header_rows:
                    inst: dict[int, tuple[int, float, float]] = {}
                    for hr in range(spec.header_rows):
                        inst[hr] = (self.pidx, self.y, self.y + row_h[hr])
                        self.y += row_h[hr]
                    instances.append(inst)
            instances[0][r] = (self.pidx, self.y, self.y + row_h[r])
            self.y += row_h[r]

        laid: list[LaidCell] = []
        for n, inst in enumerate(instances):
            for i, c in enumerate(spec.cells):
                rows = range(c.r, c.r + c.rs)
                if not all(r in inst for r in rows):
                    continue
                segs: list[tuple[int, float, float]] = []
                for r in rows:
                    p, y0, y1 = inst[r]
                    if segs and segs[-1][0] == p and abs(segs[-1][2] - y0) < 1e-6:
                        segs[-1] = (p, segs[-1][1], y1)
                    else:
                        segs.append((p, y0, y1))
                cx0, cx1 = xs[c.c], xs[c.c + c.cs]
                boxes = []
                for p, y0, y1 in segs:
                    self.hsegs[p] += [(y0, cx0, cx1), (y1, cx0, cx1)]
                    self.vsegs[p] += [(cx0, y0, y1), (cx1, y0, y1)]
                    boxes.append((p, (cx0, y0, cx1, y1)))
                # text flows top-down through the cell's pieces on successive pages
                lines = list(wrapped[i])
                for si, (p, y0, y1) in enumerate(segs):
                    y = y0 + pad_y
                    last = si == len(segs) - 1
                    while lines and (last or y + lh <= y1 - pad_y + 1e-6 or y == y0 + pad_y):
                        line = lines.pop(0)
                        lw = self.width(line, size)
                        x = (cx0 + cx1 - lw) / 2
                        self.draw_text(p, x, y + (lh - size) / 2 + size * 0.86, line, size)
                        y += lh
                laid.append(
                    LaidCell(
                        section=spec.section,
                        role=c.role,
                        text=c.text,
                        canonical=c.canonical,
                        key=c.key,
                        boxes=boxes,
                        repeat=n > 0,
                    )
                )
        return laid

    def finish(self, metadata: dict) -> bytes:
        s = self.s
        for p in range(self.n_pages):
            page = self.page(p)
            shape = page.new_shape()
            for y, a, b in _merge(self.hsegs.get(p, [])):
                shape.draw_line((a, y), (b, y))
            for x, a, b in _merge(self.vsegs.get(p, [])):
                shape.draw_line((x, a), (x, b))
            shape.finish(width=s.rule_w, color=INK, lineCap=2)
            shape.commit()
            if s.page_numbers:
                label = s.page_numbers.format(n=p + 1)
                size = 10.5
                w = self.width(label, size)
                self.draw_text(p, (s.page_w - w) / 2, s.page_h - s.margin_b / 2, label, size)
        self.doc.set_metadata(metadata)
        return self.doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def _merge(segs: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Merge collinear overlapping segments (pos, start, end)."""
    by_pos: dict[float, list[tuple[float, float]]] = defaultdict(list)
    for pos, a, b in segs:
        by_pos[round(pos, 3)].append((min(a, b), max(a, b)))
    out = []
    for pos in sorted(by_pos):
        spans = sorted(by_pos[pos])
        cur_a, cur_b = spans[0]
        for a, b in spans[1:]:
            if a <= cur_b + 1e-3:
                cur_b = max(cur_b, b)
            else:
                out.append((pos, cur_a, cur_b))
                cur_a, cur_b = a, b
        out.append((pos, cur_a, cur_b))
    return out


# --------------------------------------------------------------------------- tables


def _tree(paths: list[list[str]]):
    """Header/label cells of a path tree: (level, start, span, depth_span, label)."""
    depth = max(len(p) for p in paths)
    out = []
    for lvl in range(depth):
        i = 0
        while i < len(paths):
            p = paths[i]
            if len(p) <= lvl:
                i += 1
                continue
            j = i + 1
            while j < len(paths) and len(paths[j]) > lvl and paths[j][: lvl + 1] == p[: lvl + 1]:
                j += 1
            if len(p) == lvl + 1:  # a leaf: stretch to the last level
                out.append((lvl, i, 1, depth - lvl, p[lvl]))
                i += 1
            else:
                out.append((lvl, i, j - i, 1, p[lvl]))
                i = j
    return out, depth


_MISPRINTS = {
    "2.其他法律行政法规禁止公开": "2.其他法律行政止公开",
}


def _printed_label(label: str, misprints: bool) -> str:
    if not misprints:
        return label
    if label in _MISPRINTS:  # the famous misprint keeps its "2."
        return _MISPRINTS[label]
    return re.sub(r"^(\d)\.", r"\1、", label)


def _table2(version: str, vals: dict[str, Number], zero: str, width: float) -> _TSpec:
    spec = section_spec("二", version)
    label_w = width * 0.27
    col_w = [label_w] + [(width - label_w) / 3] * 3
    spans = {1: [3], 2: [1, 2], 3: [1, 1, 1]}
    cells: list[_TCell] = []
    r = 0
    for block in spec["blocks"]:
        cells.append(_TCell(r, 0, 1, 4, block["heading"], "heading", canonical=block["heading"]))
        r += 1
        sp = spans[len(block["columns"])]
        cells.append(_TCell(r, 0, 1, 1, "信息内容", "header", canonical="信息内容"))
        c = 1
        for col, cs in zip(block["columns"], sp, strict=True):
            cells.append(_TCell(r, c, 1, cs, col, "header", canonical=col))
            c += cs
        r += 1
        for row in block["rows"]:
            cells.append(_TCell(r, 0, 1, 1, row, "label", canonical=row))
            c = 1
            for col, cs in zip(block["columns"], sp, strict=True):
                key = f"二|{block['heading']}/{row}|{col}"
                cells.append(_TCell(r, c, 1, cs, format_number(vals[key], zero), "value", key=key))
                c += cs
            r += 1
    return _TSpec("二", col_w, r, cells, header_rows=0)


def _table3(
    rows: list[str],
    cols: list[str],
    vals,
    zero: str,
    width: float,
    style: _Style,
    misprints: bool,
    r: random.Random,
) -> _TSpec:
    # label columns A (三、本年度办理结果), B (（三）不予公开), C (sub-rows), then 7 data columns
    size, pad = style.table, style.cell_pad_x
    num_w = max(
        [
            sum(
                _char_width(ch, size, style.latin)
                for ch in format_number(vals[f"三|{r_}|{c}"], zero)
            )
            for r_ in rows
            for c in cols
        ]
        + [size]
    )
    col_w: list[float] = []
    for chars in (r.choice([2, 2, 3]), 2):  # characters per line in the data columns
        data_w = max(chars * size + 2 * pad + r.uniform(0.3, 0.8) * size, num_w + 2 * pad + 2)
        a_w = 3 * size + 2 * pad + r.uniform(0.3, 0.8) * size
        b_w = 3 * size + 2 * pad + r.uniform(0.3, 0.8) * size
        c_w = min(width - a_w - b_w - 7 * data_w, 12 * size + 2 * pad)
        col_w = [a_w, b_w, c_w] + [data_w] * 7
        if c_w >= 7 * size + 2 * pad:
            break
    if col_w[2] < 5 * size + 2 * pad:  # very large font or huge numbers: squeeze A and B
        col_w[0] = col_w[1] = 2 * size + 2 * pad + 1
        col_w[2] = max(5 * size + 2 * pad, width - 2 * col_w[0] - 7 * col_w[3])
    cells: list[_TCell] = [_TCell(0, 0, 0, 3, CORNER_NOTE, "note", canonical=CORNER_NOTE)]
    hdr, hdepth = _tree([[SECTION3_TOP, *c.split("/")] for c in cols])
    for lvl, start, span, dspan, label in hdr:
        cells.append(_TCell(lvl, 3 + start, dspan, span, label, "header", canonical=label))
    cells[0].rs = hdepth
    lab, _ = _tree([r.split("/") for r in rows])
    for lvl, start, span, dspan, label in lab:
        cells.append(
            _TCell(
                hdepth + start,
                lvl,
                span,
                dspan,
                _printed_label(label, misprints),
                "label",
                canonical=label,
            )
        )
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            key = f"三|{row}|{col}"
            cells.append(
                _TCell(hdepth + i, 3 + j, 1, 1, format_number(vals[key], zero), "value", key=key)
            )
    return _TSpec("三", col_w, hdepth + len(rows), cells, header_rows=hdepth)


def _table4(vals, zero: str, width: float) -> _TSpec:
    cols = section_spec("四", "any")["columns"]
    col_w = [width / len(cols)] * len(cols)
    hdr, depth = _tree([c.split("/") for c in cols])
    cells = [
        _TCell(lvl, start, dspan, span, label, "header", canonical=label)
        for lvl, start, span, dspan, label in hdr
    ]
    for j, col in enumerate(cols):
        key = f"四||{col}"
        cells.append(_TCell(depth, j, 1, 1, format_number(vals[key], zero), "value", key=key))
    return _TSpec("四", col_w, depth + 1, cells, header_rows=depth)


# --------------------------------------------------------------------------- prose


_NOTICE = {
    "2019": "《国务院办公厅政府信息与政务公开办公室关于政府信息公开工作年度报告有关事项的通知》（国办公开办函〔2019〕60号）",
    "2021": "《国务院办公厅政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》（国办公开办函〔2021〕30号）",
}

_OVERVIEW = [
    "（一）主动公开。{year}年，{agency}依托门户网站和政务新媒体主动公开政府信息{n1}条，其中政策文件{n2}件，工作动态{n3}条，及时回应社会关切。",
    "（二）依申请公开。全年共收到政府信息公开申请{apps}件，均在法定期限内答复，未发生因依申请公开引起的行政复议或行政诉讼败诉情况。",
    "（三）政府信息管理。严格执行信息发布审核制度，落实“先审后发、分级审核”要求，对拟公开信息逐条进行保密审查，确保公开内容准确、规范。",
    "（四）平台建设。持续优化政府信息公开专栏，规范栏目设置，及时更新机构职能、政策文件、财政预决算等内容，提升平台集约化水平。",
    "（五）监督保障。成立政务公开工作领导小组，明确分管领导和专职人员，将政务公开纳入年度绩效考核，定期开展自查自纠。",
    "（六）政策解读。坚持政策文件与解读材料同步起草、同步审签、同步发布，采用图文、问答等形式解读政策{n4}次。",
]

_NUMBERS = ["（一）", "（二）", "（三）", "（四）", "（五）", "（六）"]

_PROBLEMS = [
    "{year}年，我单位政府信息公开工作取得了一定成效，但仍存在一些不足：一是公开内容的深度和广度有待拓展；二是政策解读形式较为单一；三是工作人员业务能力有待进一步提升。",
    "下一步，将进一步健全公开工作机制，加强业务培训，丰富政策解读形式，及时回应群众关切，推动政府信息公开工作再上新台阶。",
    "针对上述问题，我们将加大主动公开力度，规范依申请公开办理流程，强化信息发布审核，不断提高政府信息公开的质量和实效。",
]

_OTHER = {
    "2019": [
        "本年度无其他需要报告的事项。",
        "{year}年度未收取任何信息处理费用，无其他需要报告的事项。",
    ],
    "2021": [
        "依据《政府信息公开信息处理费管理办法》收取信息处理费的情况：本年度未收取信息处理费。无其他需要报告的事项。",
        "{year}年，本机关未发出收费通知，未收取信息处理费。本年度无其他需要报告的事项。",
    ],
}

_HEADINGS = {
    "一": ["一、总体情况"],
    "二": ["二、主动公开政府信息情况", "二、行政机关主动公开政府信息情况"],
    "三": ["三、收到和处理政府信息公开申请情况"],
    "四": ["四、政府信息公开行政复议、行政诉讼情况"],
    "五": ["五、存在的主要问题及改进情况"],
    "六": ["六、其他需要报告的事项"],
}


# --------------------------------------------------------------------------- main


def layout_report(
    values: dict[str, Number],
    *,
    version: str,
    agency: str,
    year: int,
    zero_style: str = "0",
    font_size: float = 9,
    seed: int = 0,
    mixed_six_row: bool = False,
    misprints: bool = False,
    repeat_header: bool | None = None,
    latin_font: str | None = None,
    page_numbers: bool | None = None,
) -> RenderedReport:
    """Draw the report and return the PDF together with where every cell went.

    ``values`` maps canonical keys to numbers (``random_values``). With
    ``mixed_six_row`` section 三 prints the 2019 single （六）其他处理 row even in a
    2021 report (its value is the sum of the three 2021 sub-rows).
    ``misprints`` writes sub-row numbers as "1、" and "2.其他法律行政止公开" as
    real reports do. Unset options (None) are drawn from ``seed``.
    """
    if version not in ("2019", "2021"):
        raise ValueError(f"version must be '2019' or '2021', not {version!r}")
    if zero_style not in ZERO_STYLES:
        raise ValueError(f"zero_style must be one of {ZERO_STYLES}, not {zero_style!r}")
    r = random.Random(f"render:{seed}")
    if mixed_six_row and any(k.startswith(f"三|{SIX_ROW_2019}/") for k in values):
        values = collapse_six_row(values)
    v3 = "2019" if mixed_six_row else version
    spec3 = section_spec("三", v3)
    printed_keys = (
        [
            f"二|{b['heading']}/{row}|{col}"
            for b in section_spec("二", version)["blocks"]
            for row in b["rows"]
            for col in b["columns"]
        ]
        + [f"三|{row}|{col}" for row in spec3["rows"] for col in spec3["columns"]]
        + [f"四||{col}" for col in section_spec("四", "any")["columns"]]
    )
    missing = [k for k in printed_keys if k not in values]
    if missing:
        raise KeyError(f"values lack {len(missing)} cells, e.g. {missing[0]}")
    printed = {k: values[k] for k in printed_keys}

    style = _Style(
        body=r.choice([10.5, 11.0, 12.0]),
        title=r.choice([15.0, 16.0, 18.0]),
        table=float(font_size),
        leading=r.choice([1.45, 1.6, 1.75]),
        latin=latin_font or r.choice(["tiro", "tiro", "helv"]),
        margin_l=r.choice([79.4, 90.0]),
        rule_w=r.choice([0.5, 0.5, 0.75]),
        heading_indent=r.random() < 0.35,
        page_numbers=(
            r.choice(["- {n} -", "—{n}—", "- {n} -", "第{n}页"])
            if (page_numbers if page_numbers is not None else r.random() < 0.6)
            else None
        ),
    )
    style.margin_r = style.margin_l
    style.heading = style.body + r.choice([0.0, 1.0])
    if repeat_header is None:
        repeat_header = r.random() < 0.4
    cv = _Canvas(style)
    body, head = style.body, style.heading
    h_ind = 2.0 if style.heading_indent else 0.0

    def heading(num: str, keep: float = 0.0) -> None:
        keep = max(keep, body * style.leading * 2)  # Word keeps a heading with its text
        cv.paragraph(
            r.choice(_HEADINGS[num]),
            head,
            indent_chars=h_ind,
            bold=True,
            before=body * 0.5,
            after=body * 0.2,
            keep_next=keep,
        )

    apps = printed.get("三|一、本年新收政府信息公开申请数量|总计", 0)
    fill = {
        "agency": agency,
        "year": year,
        "apps": apps,
        "n1": r.randint(30, 900),
        "n2": r.randint(1, 40),
        "n3": r.randint(10, 300),
        "n4": r.randint(1, 30),
    }
    # title and opening
    cv.y += r.choice([0.0, 12.0, 24.0])
    cv.paragraph(
        f"{agency}{year}年政府信息公开工作年度报告",
        style.title,
        indent_chars=0,
        align="center",
        bold=True,
        leading=1.5,
        after=body * 0.6,
    )
    intro = (
        f"本报告依据《中华人民共和国政府信息公开条例》（以下简称《条例》）和{_NOTICE[version]}要求编制。"
        f"本报告中所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。"
    )
    if r.random() < 0.6:
        intro += f"本报告电子版可在{agency}门户网站查阅或下载。如对本报告有疑问，请与{agency}办公室联系。"
    cv.paragraph(intro, body)
    heading("一")
    picked = [0, 1, *sorted(r.sample(range(2, len(_OVERVIEW)), r.randint(0, 2)))]
    for n, i in enumerate(picked):
        para = _NUMBERS[n] + _OVERVIEW[i].split("）", 1)[1]
        cv.paragraph(para.format(**fill), body)

    width = min(style.text_w + 24.0, style.page_w - 60.0)
    t2 = _table2(version, printed, zero_style, style.text_w)
    t3 = _table3(spec3["rows"], spec3["columns"], printed, zero_style, width, style, misprints, r)
    t4 = _table4(printed, zero_style, style.text_w)
    min_rows = style.table * 1.28 * 4
    cells: list[LaidCell] = []
    heading("二", keep=min_rows)
    cells += cv.table(t2, repeat_header=False, keep_before=2.0)
    heading("三", keep=min_rows * 2)
    cells += cv.table(t3, repeat_header=repeat_header, keep_before=2.0)
    heading("四", keep=min_rows * 2)
    cells += cv.table(t4, repeat_header=repeat_header, keep_before=2.0)
    heading("五")
    for para in r.sample(_PROBLEMS, r.randint(1, 2)):
        cv.paragraph(para.format(**fill), body)
    heading("六")
    cv.paragraph(r.choice(_OTHER[version]).format(**fill), body)
    cv.y += body * 1.5
    cv.paragraph(agency, body, indent_chars=0, align="right")
    cv.paragraph(
        f"{year + 1}年{r.randint(1, 3)}月{r.randint(1, 28)}日", body, indent_chars=0, align="right"
    )

    pdf = cv.finish(
        {
            "title": f"{agency}{year}年政府信息公开工作年度报告",
            "author": "",
            "subject": "synthetic test report",
            "keywords": "",
            "creator": "tallyscan.synth",
            "producer": "tallyscan.synth (PyMuPDF)",
            "creationDate": "",
            "modDate": "",
            "trapped": "",
        }
    )
    options = {
        "version": version,
        "agency": agency,
        "year": year,
        "zero_style": zero_style,
        "font": CJK_FONT,
        "latin_font": style.latin,
        "table_pt": font_size,
        "seed": seed,
        "mixed_six_row": mixed_six_row,
        "misprints": misprints,
        "repeat_header": repeat_header,
    }
    return RenderedReport(pdf=pdf, pages=cv.n_pages, cells=cells, printed=printed, options=options)


def render_report(values: dict[str, Number], **options) -> bytes:
    """A born-digital PDF of the report (``options`` are ``layout_report``'s)."""
    return layout_report(values, **options).pdf
