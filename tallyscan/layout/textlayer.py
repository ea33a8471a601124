"""Born-digital pages: read text and ruling lines straight from the PDF.

No OCR: characters come from the page's text layer (MuPDF ``rawdict``), ruling
lines from its vector drawings, and the grid from `grid.build_tables`. All
output coordinates are in the upright frame: the page as displayed (its
``/Rotate`` applied) and, where almost all text runs sideways or upside down,
turned further so that it reads left to right.

Usable text layer (`has_text_layer`)
------------------------------------
A page's text layer is used only if all of these hold:

* at least ``MIN_CHARS`` (10) *visible* non-space characters: painted by
  filling or stroking (an OCR layer in render mode 3 is invisible and does
  not count), not fully transparent, not white;
* at most ``MAX_BAD_FRACTION`` (5 %) of them are U+FFFD, private-use, control
  or unassigned code points (a font without a usable ToUnicode map);
* at least ``MIN_REAL_FRACTION`` (50 %) are CJK ideographs, digits or CJK /
  full-width punctuation (broken encodings come out as Latin-1 soup);
* the text is not painted underneath a page image: no opaque image (one
  without a soft mask, i.e. not a watermark) covering at least half of the
  page is drawn after most of the text.

Anything else (scans, scans with an OCR layer, garbage encodings) goes to the
OCR path.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable

import pymupdf

from tallyscan.layout.grid import CellIndex, Piece, assign_words, build_tables, group_lines
from tallyscan.layout.grid import join_line as _join_line
from tallyscan.model import PageLayout, Table, TextLine

MIN_CHARS = 10
MAX_BAD_FRACTION = 0.05
MIN_REAL_FRACTION = 0.5
# tolerance for grid line positions, as a fraction of the median char height
TOLERANCE_FACTOR = 0.3
# a rectangle thinner than this fraction of the char height is a ruling line
THIN_FACTOR = 0.3
# outside tables, a horizontal gap wider than this many line heights splits a line
LINE_SPLIT_FACTOR = 3.0

# MuPDF rawdict flags: keep ligatures/whitespace, clip to the mediabox; no
# images (decoding a scan would be slow) and U+FFFD for unmapped glyphs.
_TEXT_FLAGS = (
    pymupdf.TEXT_PRESERVE_LIGATURES | pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
)
_FILLED, _STROKED = 16, 32  # MuPDF stext char flags

_Matrix = tuple[float, float, float, float, float, float]


# --------------------------------------------------------------------------
# characters
# --------------------------------------------------------------------------


# a text-layer character: (bbox, char, font size, line direction, wmode,
# visible, line number), bbox in unrotated page coordinates
_Char = tuple[tuple[float, float, float, float], str, float, tuple[float, float], int, bool, int]
_BBOX, _C, _SIZE, _DIR, _WMODE, _VISIBLE, _LINE = range(7)


def _is_white(color) -> bool:
    if color is None:
        return False
    if isinstance(color, int):
        return color == 0xFFFFFF
    color = tuple(color)
    if len(color) == 4:  # CMYK
        return all(v <= 0.05 for v in color)
    return all(v >= 0.95 for v in color)


def _opaque(color, opacity) -> bool:
    """A paint that shows on white paper."""
    return color is not None and not _is_white(color) and (opacity is None or opacity > 0)


def _raw_chars(page: pymupdf.Page) -> list[_Char]:
    """All characters of the page's text layer, unrotated page coordinates."""
    d = page.get_text("rawdict", flags=_TEXT_FLAGS)
    out: list[_Char] = []
    line_no = 0
    for block in d["blocks"]:
        if block.get("type", 0) != 0:
            continue
        for line in block["lines"]:
            line_no += 1
            dir_ = tuple(line["dir"])
            wmode = line.get("wmode", 0)
            for span in line["spans"]:
                flags = span.get("char_flags", _FILLED)
                visible = (
                    bool(flags & (_FILLED | _STROKED))
                    and span.get("alpha", 255) > 0
                    and not _is_white(span.get("color"))
                )
                size = float(span["size"])
                for ch in span["chars"]:
                    c = ch["c"]
                    if "\u2e80" <= c <= "\u2fdf":
                        # Kangxi radicals / CJK radicals supplement that some
                        # fonts map ideographs to (⽇ for 日): NFKC folds them.
                        c = unicodedata.normalize("NFKC", c)
                    out.append((ch["bbox"], c, size, dir_, wmode, visible, line_no))
    return out


def _char_class(c: str) -> str:
    """'bad', 'real' (CJK, digits, CJK punctuation) or 'other'."""
    o = ord(c)
    if o == 0xFFFD:
        return "bad"
    cat = unicodedata.category(c)
    if cat in ("Co", "Cn", "Cs", "Cc"):
        return "bad"
    if (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3134F
        or 0x3000 <= o <= 0x303F
        or 0xFF00 <= o <= 0xFFEF
        or c.isdigit()
    ):
        return "real"
    return "other"


def _hidden_under_image(page: pymupdf.Page) -> bool:
    """True if an opaque image covering >= half the page is painted after
    most of the text (a scan laid over its own text). Images with a soft mask
    (watermarks) do not hide anything."""
    area = abs(page.rect)
    if not any(
        not info.get("has-mask", False)
        and abs(pymupdf.Rect(info["bbox"]) & page.rect) >= 0.5 * area
        for info in page.get_image_info()
    ):
        return False
    log = page.get_bboxlog()
    text_at = [i for i, (kind, _) in enumerate(log) if kind in ("fill-text", "stroke-text")]
    if not text_at:
        return False
    for i, (kind, bbox) in enumerate(log):
        if (
            kind == "fill-image"
            and abs(pymupdf.Rect(bbox)) >= 0.5 * area
            and 2 * sum(1 for k in text_at if k < i) > len(text_at)
        ):
            return True
    return False


def _text_layer_stats(chars: Iterable[_Char]) -> tuple[int, int, int]:
    n = bad = real = 0
    for ch in chars:
        if not ch[_VISIBLE] or ch[_C].isspace():
            continue
        n += 1
        k = _char_class(ch[_C])
        if k == "bad":
            bad += 1
        elif k == "real":
            real += 1
    return n, bad, real


def has_text_layer(page: pymupdf.Page) -> bool:
    """Whether the page carries a usable text layer (rule in the module doc)."""
    n, bad, real = _text_layer_stats(_raw_chars(page))
    if n < MIN_CHARS:
        return False
    if bad > MAX_BAD_FRACTION * n or real < MIN_REAL_FRACTION * n:
        return False
    return not _hidden_under_image(page)


# --------------------------------------------------------------------------
# frame
# --------------------------------------------------------------------------


def _mul(m1: _Matrix, m2: _Matrix) -> _Matrix:
    """Apply m1, then m2 (PDF row-vector convention)."""
    a1, b1, c1, d1, e1, f1 = m1
    a2, b2, c2, d2, e2, f2 = m2
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _apply_rect(m: _Matrix, r) -> tuple[float, float, float, float]:
    a, b, c, d, e, f = m
    x0, y0, x1, y1 = r
    xa, ya = a * x0 + c * y0 + e, b * x0 + d * y0 + f
    xb, yb = a * x1 + c * y1 + e, b * x1 + d * y1 + f
    return (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))


def _apply_pt(m: _Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _turn(quarter_turns: int, w: float, h: float) -> _Matrix:
    """Turn a w x h frame clockwise by quarter_turns * 90 degrees."""
    q = quarter_turns % 4
    if q == 1:
        return (0.0, 1.0, -1.0, 0.0, h, 0.0)
    if q == 2:
        return (-1.0, 0.0, 0.0, -1.0, w, h)
    if q == 3:
        return (0.0, -1.0, 1.0, 0.0, 0.0, w)
    return (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _frame(page: pymupdf.Page, chars: list[_Char]) -> tuple[_Matrix, int, float, float]:
    """Matrix unrotated page -> upright frame, extra clockwise turn, size.

    The displayed page (``/Rotate`` applied, as a viewer or a render shows
    it) is the starting frame. If at least 70 % of the horizontal-writing
    characters run down, left or up in it, the frame is turned by a further
    90/180/270 degrees clockwise so they read left to right; that extra turn
    is what ``PageLayout.rotation`` reports (0 for normal pages).
    """
    rm = page.rotation_matrix
    m: _Matrix = (rm.a, rm.b, rm.c, rm.d, rm.e, rm.f)
    w, h = page.rect.width, page.rect.height
    rotation = 0

    # Vote on the reading direction of horizontal-writing text, as displayed.
    votes = [0, 0, 0, 0]  # text runs right, down, left, up
    for ch in chars:
        if not ch[_VISIBLE] or ch[_WMODE] or ch[_C].isspace():
            continue
        dx, dy = ch[_DIR]
        ux, uy = m[0] * dx + m[2] * dy, m[1] * dx + m[3] * dy
        if abs(ux) >= abs(uy):
            votes[0 if ux > 0 else 2] += 1
        else:
            votes[1 if uy > 0 else 3] += 1
    total = sum(votes)
    best = max(range(4), key=lambda k: votes[k])
    if best and total >= MIN_CHARS * 2 and votes[best] >= 0.7 * total:
        q = {1: 3, 2: 2, 3: 1}[best]  # clockwise quarter turns making it read rightwards
        m = _mul(m, _turn(q, w, h))
        if q % 2:
            w, h = h, w
        rotation = 90 * q
    return m, rotation, w, h


# --------------------------------------------------------------------------
# ruling lines
# --------------------------------------------------------------------------


def _segments(
    page: pymupdf.Page, m: _Matrix, thin: float
) -> tuple[list[tuple[float, float, float, float]], list[tuple[float, float, float, float]]]:
    """Horizontal and vertical segments (upright frame) from the drawings."""
    try:
        paths = page.get_cdrawings()
    except Exception:  # pragma: no cover - older/odd builds
        paths = page.get_drawings()
    page_area = abs(page.rect)
    hs: list[tuple[float, float, float, float]] = []
    vs: list[tuple[float, float, float, float]] = []

    def add_line(x0: float, y0: float, x1: float, y1: float) -> None:
        (x0, y0), (x1, y1) = _apply_pt(m, x0, y0), _apply_pt(m, x1, y1)
        dx, dy = abs(x1 - x0), abs(y1 - y0)
        if dy <= 0.02 * dx + 0.05:
            yc = (y0 + y1) / 2
            hs.append((min(x0, x1), yc, max(x0, x1), yc))
        elif dx <= 0.02 * dy + 0.05:
            xc = (x0 + x1) / 2
            vs.append((xc, min(y0, y1), xc, max(y0, y1)))

    def add_rect(r, filled_only: bool) -> None:
        x0, y0, x1, y1 = _apply_rect(m, r)
        w, h = x1 - x0, y1 - y0
        if w <= thin and h <= thin:
            return  # a dot
        if h <= thin:
            yc = (y0 + y1) / 2
            hs.append((x0, yc, x1, yc))
        elif w <= thin:
            xc = (x0 + x1) / 2
            vs.append((xc, y0, xc, y1))
        elif filled_only and w * h >= 0.5 * page_area:
            return  # page background
        else:  # a stroked box or a filled (shaded) cell: its edges
            hs.append((x0, y0, x1, y0))
            hs.append((x0, y1, x1, y1))
            vs.append((x0, y0, x0, y1))
            vs.append((x1, y0, x1, y1))

    for p in paths:
        kind = p.get("type") or ""
        stroked = "s" in kind and _opaque(p.get("color"), p.get("stroke_opacity"))
        filled = "f" in kind and _opaque(p.get("fill"), p.get("fill_opacity"))
        if not (stroked or filled):
            continue
        for item in p["items"]:
            op = item[0]
            if op == "l":
                (ax, ay), (bx, by) = item[1], item[2]
                add_line(ax, ay, bx, by)
            elif op == "re":
                add_rect(tuple(item[1]), filled and not stroked)
            elif op == "qu":
                pts = [tuple(q) for q in item[1]]
                xs = sorted(q[0] for q in pts)
                ys = sorted(q[1] for q in pts)
                # axis-aligned quad only
                if abs(xs[0] - xs[1]) < 0.05 and abs(xs[2] - xs[3]) < 0.05:
                    add_rect((xs[0], ys[0], xs[3], ys[3]), filled and not stroked)
    return hs, vs


# --------------------------------------------------------------------------
# words and lines
# --------------------------------------------------------------------------


def _words(
    chars: list[tuple[tuple[float, float, float, float], str, int, float]], index: CellIndex
):
    """Split each text-layer line into words: at whitespace, at gaps wider
    than half the font size, and where the characters cross into another
    table cell (a layer line must not run across a ruling line)."""
    words: list[Piece] = []
    text: list[str] = []
    x0 = y0 = x1 = y1 = 0.0
    cur_key = None
    find = index.find
    for bbox, c, line, size in chars:
        if c.isspace():
            if text:
                words.append((x0, y0, x1, y1, "".join(text)))
                text = []
            continue
        key = (line, find((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2))
        if text and (key != cur_key or bbox[0] - x1 > 0.5 * size):
            words.append((x0, y0, x1, y1, "".join(text)))
            text = []
        if text:
            x0, y0 = min(x0, bbox[0]), min(y0, bbox[1])
            x1, y1 = max(x1, bbox[2]), max(y1, bbox[3])
        else:
            x0, y0, x1, y1 = bbox
        text.append(c)
        cur_key = key
    if text:
        words.append((x0, y0, x1, y1, "".join(text)))
    return words


def _text_lines(pieces: list[Piece]) -> list[TextLine]:
    out: list[TextLine] = []
    for line in group_lines(pieces):
        heights = sorted(p[3] - p[1] for p in line)
        h = heights[len(heights) // 2]
        run: list[Piece] = [line[0]]
        for p in line[1:]:
            if p[0] - max(q[2] for q in run) > LINE_SPLIT_FACTOR * h:
                out.append(_make_line(run))
                run = []
            run.append(p)
        out.append(_make_line(run))
    return out


def _make_line(run: list[Piece]) -> TextLine:
    bbox = (
        min(p[0] for p in run),
        min(p[1] for p in run),
        max(p[2] for p in run),
        max(p[3] for p in run),
    )
    return TextLine(text=_join_line(run), bbox=bbox, confidence=1.0)


# --------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------


def read_page(page: pymupdf.Page, index: int) -> PageLayout:
    """Lay out one born-digital page from its text layer and drawings."""
    t0 = time.perf_counter()
    raw = _raw_chars(page)
    m, rotation, width, height = _frame(page, raw)
    identity = m == (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    chars = []
    for ch in raw:
        if not ch[_VISIBLE]:
            continue
        b = ch[_BBOX] if identity else _apply_rect(m, ch[_BBOX])
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if 0 <= cx <= width and 0 <= cy <= height:  # not cropped away
            chars.append((b, ch[_C], ch[_LINE], ch[_SIZE]))
    heights = sorted(b[3] - b[1] for b, c, _, _ in chars if not c.isspace())
    char_h = heights[len(heights) // 2] if heights else 10.0
    t1 = time.perf_counter()

    hs, vs = _segments(page, m, THIN_FACTOR * char_h)
    t2 = time.perf_counter()

    tables: list[Table] = build_tables(hs, vs, tolerance=TOLERANCE_FACTOR * char_h, page=index)
    t3 = time.perf_counter()

    words = _words(chars, CellIndex(tables))
    outside = assign_words(tables, words)
    lines = _text_lines(outside)
    t4 = time.perf_counter()

    return PageLayout(
        page=index,
        width=width,
        height=height,
        source="text-layer",
        lines=lines,
        tables=tables,
        rotation=rotation,
        skew=0.0,
        timings={
            "text": t1 - t0,
            "drawings": t2 - t1,
            "grid": t3 - t2,
            "assign": t4 - t3,
        },
    )
