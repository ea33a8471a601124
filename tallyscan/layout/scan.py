"""Scanned pages: orientation, deskew, ruling lines, grid cells, cell crops.

Every threshold here is a multiple of a measured page metric — the median
character height ``char_h`` in pixels — never a fixed pixel count, so the same
code serves 150 and 300 dpi scans. The stage is pure: image in, PageLayout out;
OCR happens afterwards in :func:`recognise_cells`, so layout and OCR can be
timed and tested apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from tallyscan.model import Cell, PageLayout, Reading, Table, TextLine

log = logging.getLogger(__name__)


@dataclass
class PageMetrics:
    """Measured properties of one page image that every threshold derives from."""

    char_h: float  # median height of character-sized ink blobs, pixels
    dpi: float

    @property
    def px_to_pt(self) -> float:
        return 72.0 / self.dpi


@dataclass
class ScanWork:
    """Private state the OCR step needs after layout (kept off the public model)."""

    image: np.ndarray  # upright, deskewed grayscale
    binary: np.ndarray  # ink = 255, ruling lines removed
    metrics: PageMetrics
    blobs: np.ndarray  # (n, 4) x0, y0, x1, y1 of text blobs, pixels
    cell_blobs: dict[int, list[int]] = field(default_factory=dict)  # id(cell) -> blob idx


# --------------------------------------------------------------------------- #
# Binarisation and metrics


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grey image in which a red seal is nearly white.

    The red channel of red ink is bright, while black print is dark in every
    channel, so taking the red channel removes most of a seal for free.
    """
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    return np.ascontiguousarray(image[:, :, 2])


def binarise(gray: np.ndarray, dpi: float) -> np.ndarray:
    """Ink = 255. Local threshold, window ~ a third of an inch, so uneven light
    and fading do not wipe out whole regions."""
    block = int(dpi / 3) | 1
    blur = cv2.GaussianBlur(gray, (3, 3), 0)
    local = cv2.adaptiveThreshold(
        blur, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12
    )
    # Also require global darkness: paper texture under a local window must not count.
    otsu_t, _ = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = (blur < min(otsu_t + 25, 235)).astype(np.uint8) * 255
    return cv2.bitwise_and(local, dark)


def measure_char_height(binary: np.ndarray, dpi: float) -> float:
    """Median height of blobs that look like characters (not specks, not lines)."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h = stats[1:, cv2.CC_STAT_HEIGHT].astype(float)
    w = stats[1:, cv2.CC_STAT_WIDTH].astype(float)
    # Plausible type sizes for body text are 6-20 pt: use that only as a sanity
    # window around which we measure.
    lo, hi = 4 / 72 * dpi, 24 / 72 * dpi
    ok = (h >= lo) & (h <= hi) & (w <= 2.5 * h) & (w >= 0.2 * h)
    if ok.sum() < 20:
        return 10 / 72 * dpi
    return float(np.median(h[ok]))


# --------------------------------------------------------------------------- #
# Orientation and skew


def text_is_vertical(binary: np.ndarray) -> bool:
    """True when text lines run top-to-bottom (sheet fed sideways).

    Horizontal text gives a row-projection profile with strong gaps between
    lines; compare how 'peaky' the row and column profiles are.
    """
    small = cv2.resize(binary, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    rows = small.mean(axis=1)
    cols = small.mean(axis=0)

    def peakiness(p: np.ndarray) -> float:
        p = p[p > 0]
        if p.size < 10:
            return 0.0
        return float(np.std(np.diff(p)) / (np.mean(p) + 1e-6))

    return peakiness(cols) > 1.15 * peakiness(rows)


def estimate_skew(binary: np.ndarray, max_deg: float = 4.0) -> float:
    """Angle (degrees) that makes text rows and ruling lines horizontal.

    Projects a sample of ink pixels onto rotated axes and maximises the
    sharpness of the row histogram; cheap because it moves points, not images.
    """
    ys, xs = np.nonzero(binary[::2, ::2])
    if xs.size < 500:
        return 0.0
    rng = np.random.default_rng(0)
    if xs.size > 40000:
        pick = rng.choice(xs.size, 40000, replace=False)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float64)
    ys = ys.astype(np.float64)

    def score(deg: float) -> float:
        t = np.deg2rad(deg)
        yr = ys * np.cos(t) - xs * np.sin(t)
        hist = np.bincount((yr - yr.min()).astype(np.int64))
        return float(np.sum(hist.astype(np.float64) ** 2))

    coarse = np.arange(-max_deg, max_deg + 1e-9, 0.25)
    best = max(coarse, key=score)
    fine = np.arange(best - 0.25, best + 0.25 + 1e-9, 0.05)
    # Sign: the rotation that maps y' = y cos - x sin removes a skew of +deg.
    return float(max(fine, key=score))


def rotate_image(gray: np.ndarray, quarter_turns: int, skew_deg: float) -> np.ndarray:
    """Turn by quarter turns (counter-clockwise) and then deskew, padding with white."""
    img = np.rot90(gray, quarter_turns) if quarter_turns % 4 else gray
    if abs(skew_deg) < 0.05:
        return np.ascontiguousarray(img)
    h, w = img.shape[:2]
    # estimate_skew found the angle whose projection makes rows sharpest; the
    # image is turned back by it (cv2 angles are counter-clockwise on screen).
    m = cv2.getRotationMatrix2D((w / 2, h / 2), skew_deg, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


# --------------------------------------------------------------------------- #
# Ruling lines


def ruling_masks(binary: np.ndarray, char_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Masks of horizontal and vertical ruling lines.

    A horizontal piece must run unbroken for two character heights; no stroke
    of a character does. Vertical rules of one-line rows are barely taller
    than the text, so vertical pieces need only 1.2 character heights but must
    then end on a horizontal rule (a character's stroke floats inside its
    cell). Breaks in an eroded line just leave several pieces, which the grid
    builder joins by position and coverage.
    """
    span = max(8, int(2.0 * char_h))
    short = max(6, int(1.2 * char_h))
    horiz = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (span, 1))
    )
    vert = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, short))
    )
    reach = max(3, int(0.4 * char_h))
    near_h = cv2.dilate(horiz, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, 2 * reach + 1)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
    keep = np.zeros(n, dtype=bool)
    for i in range(1, n):
        x, y, w, h = stats[i, :4]
        if h >= span:
            keep[i] = True
            continue
        xc = x + w // 2
        top = near_h[max(0, y - 1), xc] > 0
        bottom = near_h[min(near_h.shape[0] - 1, y + h), xc] > 0
        keep[i] = top or bottom
    vert = np.where(keep[labels], vert, 0).astype(np.uint8)
    return horiz, vert


def segments_from_mask(
    mask: np.ndarray, horizontal: bool, char_h: float
) -> list[tuple[float, float, float, float]]:
    """Thin connected pieces of a line mask as (x0, y0, x1, y1) pixel segments."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    segs = []
    max_thick = max(2.0, 0.5 * char_h)
    for i in range(1, n):
        x, y, w, h = stats[i, :4]
        if horizontal:
            if h > max_thick and h > w / 8:
                continue
            yc = y + h / 2
            segs.append((float(x), yc, float(x + w), yc))
        else:
            if w > max_thick and w > h / 8:
                continue
            xc = x + w / 2
            segs.append((xc, float(y), xc, float(y + h)))
    return segs


# --------------------------------------------------------------------------- #
# Text blobs


def text_blobs(
    binary: np.ndarray, lines_mask: np.ndarray, char_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ink without ruling lines, and boxes of its significant connected pieces.

    Specks (salt noise) are dropped: a piece counts if its larger side is at
    least 0.4 character heights (a digit "1" is ~0.7, a dash ~0.5 wide). A decimal point is smaller, but it
    sits inside a number's crop, which is cut from the image, not from blobs.
    """
    grow = cv2.dilate(lines_mask, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    ink = cv2.bitwise_and(binary, cv2.bitwise_not(grow))
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    x, y, w, h = stats[1:, 0], stats[1:, 1], stats[1:, 2], stats[1:, 3]
    big = np.maximum(w, h) >= 0.4 * char_h
    # Long thin leftovers of lines are not text.
    not_line = ~(((w > 3 * char_h) & (h < 0.3 * char_h)) | ((h > 3 * char_h) & (w < 0.3 * char_h)))
    keep = big & not_line
    boxes = np.stack([x, y, x + w, y + h], axis=1)[keep].astype(np.float64)
    return ink, boxes


def group_lines(boxes: np.ndarray, char_h: float) -> list[np.ndarray]:
    """Group blob indices into text lines by vertical overlap, top to bottom."""
    if len(boxes) == 0:
        return []
    order = np.argsort((boxes[:, 1] + boxes[:, 3]) / 2)
    lines: list[list[int]] = []
    spans: list[list[float]] = []
    for i in order:
        y0, y1 = boxes[i, 1], boxes[i, 3]
        placed = False
        for k in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            ly0, ly1 = spans[k]
            overlap = min(y1, ly1) - max(y0, ly0)
            # Same line when the vertical extents mostly overlap; a flat stroke
            # (the top of a character, a dash) lies inside its line's extent.
            if overlap >= 0.5 * min(y1 - y0, ly1 - ly0, char_h):
                lines[k].append(int(i))
                spans[k] = [min(ly0, y0), max(ly1, y1)]
                placed = True
                break
        if not placed:
            lines.append([int(i)])
            spans.append([y0, y1])
    return [np.array(sorted(line, key=lambda j: boxes[j, 0])) for line in lines]


# --------------------------------------------------------------------------- #
# The stage


_WORK: dict[int, ScanWork] = {}  # id(PageLayout) -> private OCR state, same process


def analyse_page(
    image: np.ndarray, *, dpi: float, index: int, orientation_classifier=None
) -> PageLayout:
    """Upright, deskew, and find the table grids of one scanned page."""
    gray = to_gray(image)
    binary = binarise(gray, dpi)
    turns = 0
    if text_is_vertical(binary):
        turns = 1
        gray = np.ascontiguousarray(np.rot90(gray, 1))
        binary = np.ascontiguousarray(np.rot90(binary, 1))
    skew = estimate_skew(binary)
    if abs(skew) >= 0.05:
        gray = rotate_image(gray, 0, skew)
        binary = binarise(gray, dpi)
    char_h = measure_char_height(binary, dpi)
    if upside_down(gray, binary, char_h, orientation_classifier):
        turns += 2
        gray = np.ascontiguousarray(np.rot90(gray, 2))
        binary = np.ascontiguousarray(np.rot90(binary, 2))
    metrics = PageMetrics(char_h=char_h, dpi=dpi)
    horiz, vert = ruling_masks(binary, char_h)
    s = metrics.px_to_pt
    h_segs = [tuple(v * s for v in seg) for seg in segments_from_mask(horiz, True, char_h)]
    v_segs = [tuple(v * s for v in seg) for seg in segments_from_mask(vert, False, char_h)]
    from tallyscan.layout.grid import build_tables

    tables = build_tables(h_segs, v_segs, tolerance=0.6 * char_h * s, min_coverage=0.5, page=index)
    tables = [t for t in tables if t.n_rows >= 1 and t.n_cols >= 2]
    ink, boxes = text_blobs(binary, cv2.bitwise_or(horiz, vert), char_h)
    work = ScanWork(image=gray, binary=ink, metrics=metrics, blobs=boxes)
    lines = _text_lines_outside(tables, boxes, char_h, s)
    _assign_blobs(tables, boxes, s, work)
    h, w = gray.shape[:2]
    layout = PageLayout(
        page=index,
        width=w * s,
        height=h * s,
        source="scan",
        lines=lines,
        tables=tables,
        rotation=(turns * 90) % 360,
        skew=skew,
    )
    _WORK[id(layout)] = work
    return layout


def upside_down(gray: np.ndarray, binary: np.ndarray, char_h: float, classifier) -> bool:
    """Ask the text-direction classifier about the page's widest text lines."""
    if classifier is None:
        from tallyscan.ocr.orientation import get_orientation_classifier

        classifier = get_orientation_classifier()
    _, boxes = text_blobs(binary, np.zeros_like(binary), char_h)
    lines = group_lines(boxes, char_h)
    crops = []
    for idx in sorted(lines, key=len, reverse=True)[:8]:
        if len(idx) < 4:
            continue
        b = boxes[idx]
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        # Limit to ~12 characters so the classifier sees text at its own scale.
        x1 = min(x1, x0 + 12 * char_h)
        m = 0.2 * char_h
        crop = gray[int(max(0, y0 - m)) : int(y1 + m), int(max(0, x0 - m)) : int(x1 + m)]
        if crop.size:
            crops.append(crop)
    if not crops:
        return False
    votes = classifier.classify(crops)
    score = sum((p if angle == 180 else -p) for angle, p in votes)
    return score > 0


def _text_lines_outside(
    tables: list[Table], boxes: np.ndarray, char_h: float, s: float
) -> list[TextLine]:
    """Text lines not inside any table, as boxes (text is filled by OCR later)."""

    def inside(b) -> bool:
        cx, cy = (b[0] + b[2]) / 2 * s, (b[1] + b[3]) / 2 * s
        return any(t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3] for t in tables)

    keep = np.array([not inside(b) for b in boxes], dtype=bool) if len(boxes) else np.zeros(0, bool)
    sub = boxes[keep]
    out = []
    for idx in group_lines(sub, char_h):
        b = sub[idx]
        # Split a line where the gap between blobs is wide (columns, page numbers).
        start = 0
        for k in range(1, len(idx) + 1):
            if k == len(idx) or b[k, 0] - b[k - 1, 2] > 3 * char_h:
                seg = b[start:k]
                bbox = (
                    seg[:, 0].min() * s,
                    seg[:, 1].min() * s,
                    seg[:, 2].max() * s,
                    seg[:, 3].max() * s,
                )
                out.append(TextLine(text="", bbox=bbox, confidence=0.0))
                start = k
    return out


def _assign_blobs(tables: list[Table], boxes: np.ndarray, s: float, work: ScanWork) -> None:
    if len(boxes) == 0:
        return
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 * s
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 * s
    for t in tables:
        for c in t.cells:
            x0, y0, x1, y1 = c.bbox
            sel = np.nonzero((cx > x0) & (cx < x1) & (cy > y0) & (cy < y1))[0]
            work.cell_blobs[id(c)] = sel.tolist()


# --------------------------------------------------------------------------- #
# OCR of cells


def cell_crops(
    cell: Cell, work: ScanWork, max_chars: float | None = None
) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """One crop per text line inside the cell, with its bbox in pixels.

    ``max_chars`` keeps only the first N character widths of each line: enough
    to tell labels apart at a fraction of the OCR cost.
    """
    idx = work.cell_blobs.get(id(cell), [])
    if not idx:
        return []
    ch = work.metrics.char_h
    boxes = work.blobs[idx]
    out = []
    h, w = work.image.shape[:2]
    for line in group_lines(boxes, ch):
        b = boxes[line]
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        if max_chars is not None:
            x1 = min(x1, x0 + max_chars * ch)
        mx, my = 0.25 * ch, 0.15 * ch
        X0, Y0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
        X1, Y1 = int(min(w, x1 + mx)), int(min(h, y1 + my))
        if X1 - X0 < 2 or Y1 - Y0 < 2:
            continue
        out.append((work.image[Y0:Y1, X0:X1], (x0, y0, x1, y1)))
    return out


def dash_reading(cell: Cell, work: ScanWork) -> Reading | None:
    """A lone flat stroke (—, -, 一) is a printed zero; recognise it by shape."""
    idx = work.cell_blobs.get(id(cell), [])
    if len(idx) != 1:
        return None
    x0, y0, x1, y1 = work.blobs[idx[0]]
    ch = work.metrics.char_h
    bw, bh = x1 - x0, y1 - y0
    if bh <= 0.3 * ch and bw >= 0.4 * ch and bw >= 3 * bh:
        text = "—" if bw >= 0.8 * ch else "-"
        return Reading(text=text, confidence=0.99, alternatives=[[(text, 0.99)]])
    return None


def page_work(layout: PageLayout) -> ScanWork:
    return _WORK[id(layout)]


def release(layout: PageLayout) -> None:
    _WORK.pop(id(layout), None)


def _looks_like_words(cell: Cell, work: ScanWork) -> bool:
    """Several square, character-sized blobs: CJK words, not digits (digits are
    about half as wide as they are tall)."""
    ch = work.metrics.char_h
    b = work.blobs[work.cell_blobs.get(id(cell), [])]
    if len(b) == 0:
        return False
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    square = (w >= 0.75 * ch) & (h >= 0.6 * ch)
    return int(square.sum()) >= 2


def _label_columns(table: Table, work: ScanWork) -> set[int]:
    """Columns holding long text (row labels) rather than short values."""
    ch = work.metrics.char_h
    widths: dict[int, list[float]] = {}
    for c in table.cells:
        if c.col_span != 1:
            continue
        idx = work.cell_blobs.get(id(c), [])
        if not idx:
            continue
        b = work.blobs[idx]
        widths.setdefault(c.col, []).append(float(b[:, 2].max() - b[:, 0].min()))
    return {col for col, ws in widths.items() if np.median(ws) > 3.0 * ch}


def recognise_cells(
    layout: PageLayout, image: np.ndarray | None = None, *, dpi: float | None = None, engine
) -> None:
    """Fill every non-empty cell's reading, and the page's first title lines.

    Value cells are read whole over the numeric alphabet; label cells only by
    their first line's first few characters, which is all the snapper needs to
    tell the template's rows apart (and far cheaper than whole labels). A lone
    flat stroke is read as a dash by shape, and an empty cell is empty without
    any OCR.
    """
    work = page_work(layout)
    ch = work.metrics.char_h
    jobs: list[tuple[Cell | TextLine, int, bool]] = []  # target, crop count, numeric
    crops: list[np.ndarray] = []
    numeric_flags: list[bool] = []
    for t in layout.tables:
        label_cols = _label_columns(t, work)
        for c in t.cells:
            if not work.cell_blobs.get(id(c)):
                c.reading = Reading.empty()
                continue
            dash = dash_reading(c, work)
            if dash is not None:
                c.reading = dash
                continue
            is_label = c.col_span > 1 or c.col in label_cols
            if is_label:
                parts = cell_crops(c, work, max_chars=8.5 if c.col_span > 1 else 4.5)[:1]
            elif _looks_like_words(c, work):
                # Column headers (自然人, 结果维持…): a few characters identify them.
                is_label = True
                parts = cell_crops(c, work, max_chars=4)[:1]
            else:
                parts = cell_crops(c, work)
            jobs.append((c, len(parts), not is_label))
            crops.extend(p[0] for p in parts)
            numeric_flags.extend([not is_label] * len(parts))
    if layout.page == 0:
        s = work.metrics.px_to_pt
        for line in sorted(layout.lines, key=lambda ln: ln.bbox[1])[:2]:
            x0, y0, x1, y1 = (v / s for v in line.bbox)
            # The agency and year come within the title's first ~22 characters.
            x1 = min(x1, x0 + 22 * max(y1 - y0, ch))
            m = 0.2 * ch
            crop = work.image[int(max(0, y0 - m)) : int(y1 + m), int(max(0, x0 - m)) : int(x1 + m)]
            if crop.size:
                jobs.append((line, 1, False))
                crops.append(crop)
                numeric_flags.append(False)
    readings = _recognise_mixed(engine, crops, numeric_flags)
    k = 0
    for target, n, _ in jobs:
        parts = readings[k : k + n]
        k += n
        merged = merge_readings(parts)
        if isinstance(target, TextLine):
            target.text, target.confidence = merged.text, merged.confidence
        else:
            target.reading = merged


def _recognise_mixed(engine, crops: list[np.ndarray], numeric: list[bool]) -> list[Reading]:
    out: list[Reading | None] = [None] * len(crops)
    for flag in (True, False):
        idx = [i for i, f in enumerate(numeric) if f == flag]
        if not idx:
            continue
        for i, r in zip(idx, engine.recognize([crops[i] for i in idx], numeric=flag), strict=True):
            out[i] = r
    return [r if r is not None else Reading.empty() for r in out]


def merge_readings(parts: list[Reading]) -> Reading:
    """Join the readings of a cell's lines into one."""
    parts = [p for p in parts if p.text]
    if not parts:
        return Reading.empty()
    if len(parts) == 1:
        return parts[0]
    offsets = [0]
    for p in parts[:-1]:
        offsets.append(offsets[-1] + len(p.text))
    return Reading(
        text="".join(p.text for p in parts),
        confidence=min(p.confidence for p in parts),
        alternatives=[a for p in parts for a in p.alternatives],
        insertions=[(o + i, ch, pr) for o, p in zip(offsets, parts, strict=True)
                    for i, ch, pr in p.insertions],
    )
