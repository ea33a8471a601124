"""Scanned pages: orientation, deskew, ruling lines, grid cells, cell crops.

Every threshold here is a multiple of a measured page metric — the median
character height ``char_h`` in pixels — never a fixed pixel count, so the same
code serves 150 and 300 dpi scans. The stage is pure: image in, PageLayout out;
OCR happens afterwards in :func:`recognise_cells`, so layout and OCR can be
timed and tested apart.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

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
    ring_band: np.ndarray | None = None  # the seal rings' band (:func:`ring_band`), if any
    page_ink: np.ndarray | None = None  # ink = 255, ruling lines included
    # Seals lighter than the print: (x, y, reach, cut) per disc (:func:`seal_print_cuts`).
    seal_cuts: list[tuple[float, float, float, float]] = field(default_factory=list)
    unsealed: np.ndarray | None = None  # ``image`` less those seals (:func:`unsealed_image`)


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
    # blur < cut, as OpenCV's threshold (levels are whole numbers: < cut is <= ceil(cut) - 1).
    cut = min(otsu_t + 25, 235)
    _, dark = cv2.threshold(blur, math.ceil(cut) - 1, 255, cv2.THRESH_BINARY_INV)
    return cv2.bitwise_and(local, dark)


def component_boxes(mask: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Bounding boxes ``(n, 4)`` as x, y, w, h of the 8-connected pieces of a
    mask, and the outer contour of each.

    Traced from the pieces' outer contours: about four times faster than
    ``connectedComponentsWithStats`` on a page, which this stage would
    otherwise call half a dozen times per page.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return np.zeros((0, 4), dtype=np.int64), []
    top = np.flatnonzero(hierarchy[0][:, 3] < 0)
    if len(top) == 0:
        return np.zeros((0, 4), dtype=np.int64), []
    outer = [contours[i] for i in top.tolist()]
    pts = np.concatenate(outer).reshape(-1, 2)
    starts = np.cumsum([0] + [len(c) for c in outer[:-1]])
    lo = np.minimum.reduceat(pts, starts, axis=0)
    hi = np.maximum.reduceat(pts, starts, axis=0)
    boxes = np.concatenate([lo, hi - lo + 1], axis=1).astype(np.int64)
    return boxes, outer


def label_pieces(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image and stats (``cv2.CC_STAT_*`` columns) of a mask's 8-connected pieces.

    16-bit labels, which OpenCV fills about twice as fast as 32-bit ones on a
    page; a mask of more pieces than they can count (OpenCV refuses the
    overflow) is labelled again with 32-bit labels.
    """
    try:
        _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            mask, 8, cv2.CV_16U, cv2.CCL_DEFAULT)
    except cv2.error:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return labels, stats


def piece_boxes(mask: np.ndarray) -> np.ndarray:
    """Bounding boxes ``(n, 4)`` as x, y, w, h of a mask's 8-connected pieces,
    as :func:`component_boxes` gives them (bottom to top, right to left by
    each box's top left) but without their outlines: labelling is about twice
    as fast as tracing where a page has thousands of pieces."""
    _, stats = label_pieces(mask)
    boxes = stats[1:, :4].astype(np.int64)
    return boxes[np.lexsort((-boxes[:, 0], -boxes[:, 1]))]


def measure_char_height(stats: np.ndarray, dpi: float) -> float:
    """Median height of blobs that look like characters (not specks, not
    lines), given the page's ink pieces (:func:`piece_boxes`)."""
    h = stats[:, 3].astype(float)
    w = stats[:, 2].astype(float)
    # Plausible type sizes for body text are 6-20 pt: use that only as a sanity
    # window around which we measure.
    lo, hi = 4 / 72 * dpi, 24 / 72 * dpi
    ok = (h >= lo) & (h <= hi) & (w <= 2.5 * h) & (w >= 0.2 * h)
    if ok.sum() < 20:
        return 10 / 72 * dpi
    return float(np.median(h[ok]))


# --------------------------------------------------------------------------- #
# Orientation and skew


# Text runs top-to-bottom when the column profile is this many times as peaky
# as the row profile; within a factor VERTICAL_UNSURE of that cut either way
# (a page of one ruled table and a few lines: its rules peak both profiles)
# the page alone does not tell. Over 345 scanned pages of the devset and three
# held-out sets, upright pages measured up to 1.53 and sideways ones down to
# 0.75 (held-out syn09000's section 三 page, read upside down at 1.3).
VERTICAL_CUT = 1.15
VERTICAL_UNSURE = 1.6


def text_is_vertical(binary: np.ndarray, prior: bool | None = None) -> bool:
    """True when text lines run top-to-bottom (sheet fed sideways).

    Horizontal text gives a row-projection profile with strong gaps between
    lines; compare how 'peaky' the row and column profiles are. Where that
    does not tell (a near-blank page, or a table page whose rules peak both
    profiles alike), ``prior``, the previous page's answer, decides: a scan's
    sheets are fed the same way (syn07014's last page, section 四 under a
    seal, measured 1.13 and was read sideways).
    """
    small = cv2.resize(binary, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    return vertical_from_profiles(small.mean(axis=1), small.mean(axis=0), prior)


def vertical_from_profiles(rows: np.ndarray, cols: np.ndarray, prior: bool | None = None) -> bool:
    """:func:`text_is_vertical` from the page's ink profiles down its rows and
    across its columns (at a quarter scale)."""

    def peakiness(p: np.ndarray) -> float | None:
        p = p[p > 0]
        if p.size < 10:
            return None
        return float(np.std(np.diff(p)) / (np.mean(p) + 1e-6))

    across, down = peakiness(cols), peakiness(rows)
    if across is None or down is None or down <= 0:
        return bool(prior) if prior is not None else (across or 0.0) > 0.0
    ratio = across / down
    if prior is not None and VERTICAL_CUT / VERTICAL_UNSURE < ratio < VERTICAL_CUT * VERTICAL_UNSURE:
        return prior
    return ratio > VERTICAL_CUT


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


# Gaps a dashed rule may have between its dashes, in character heights. Along a
# row, a faded dashed border's gaps reach most of a character height (0.6-0.8 on
# 150 dpi faxes), and text chains into thick bands whatever the gap, which are
# dropped. Down a column, digits stacked in consecutive rows sit less than a
# character height apart: chained, they would pass for a rule.
DASH_GAP_ALONG_ROW = 0.9
DASH_GAP_DOWN_COLUMN = 0.6


def dashed_rules(
    binary: np.ndarray, char_h: float, *, horizontal: bool, beside: np.ndarray | None = None,
    h_rules: np.ndarray | None = None,
) -> np.ndarray:
    """Rules broken into dashes or dots (a fax, a worn print): ink that, once
    gaps under a quarter character height are bridged, runs 0.8 character
    heights unbroken, pieces that line up with gaps under DASH_GAP_ALONG_ROW
    (DASH_GAP_DOWN_COLUMN for vertical rules) character heights between
    them, into a thin chain at least 4 character heights long.

    A line of text has strokes at many heights, so its pieces chain into a
    thick band, not a thin one; such bands are dropped, and so are thin chains
    with ink close beside them (the aligned bottom strokes of a heading).
    Thickness and the ink beside are measured along the chain, so a rule on a
    slightly warped sheet, which drifts a few pixels over its length, counts.
    ``beside`` is the print that counts as ink beside a chain (default: ``binary``).
    ``h_rules``, for vertical rules: the horizontal rules, to tell a column of
    digits in consecutive rows from a rule (:func:`_stacked_glyphs`).
    """
    beside = binary if beside is None else beside
    bridge = max(2, int(0.25 * char_h))
    piece = max(4, int(0.8 * char_h))
    gap = max(2, int((DASH_GAP_ALONG_ROW if horizontal else DASH_GAP_DOWN_COLUMN) * char_h))
    thin = max(3.0, 0.35 * char_h)
    along = (lambda n: (n, 1)) if horizontal else (lambda n: (1, n))
    across = (lambda n: (1, n)) if horizontal else (lambda n: (n, 1))
    kernel = lambda size: cv2.getStructuringElement(cv2.MORPH_RECT, size)  # noqa: E731
    bridged = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel(along(bridge)))
    pieces = cv2.morphologyEx(bridged, cv2.MORPH_OPEN, kernel(along(piece)))
    chains = cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, kernel(along(gap)))
    boxes, outlines = component_boxes(chains)
    keep = np.zeros_like(binary)
    if len(boxes) == 0:
        return keep
    length = boxes[:, 2] if horizontal else boxes[:, 3]
    good = length >= 4 * char_h
    # Beside a rule is the cells' padding; beside the bottom strokes of a line
    # of characters (a heading in larger type) are the characters.
    near, far = max(2, int(0.1 * char_h)), max(4, int(0.35 * char_h))
    bh, bw = binary.shape[:2]
    window = max(3, int(char_h))
    lo, hi = binary.shape[0 if horizontal else 1], 0  # extent across the rules of what is kept
    for i in np.flatnonzero(good).tolist():
        x, y, w, h = boxes[i].tolist()
        x0, y0 = (x, max(0, y - far)) if horizontal else (max(0, x - far), y)
        x1, y1 = (x + w, min(bh, y + h + far)) if horizontal else (min(bw, x + w + far), y + h)
        own = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.drawContours(own, [outlines[i]], -1, 255, -1, offset=(-x0, -y0))
        axis = 0 if horizontal else 1
        inner = cv2.dilate(own, kernel(across(2 * near + 1)))
        outer = cv2.dilate(own, kernel(across(2 * far + 1)))
        band = cv2.bitwise_and(outer, cv2.bitwise_not(inner))
        ink_band = cv2.bitwise_and(beside[y0:y1, x0:x1], band)
        # (Whole counts first: most chains, runs of text, fail here.)
        if cv2.countNonZero(ink_band) > 0.1 * cv2.countNonZero(band):
            continue
        if h_rules is not None and _stacked_glyphs(beside, h_rules, x, y, w, h, char_h):
            continue
        thick = np.count_nonzero(own, axis=axis)
        ink_along = np.count_nonzero(ink_band, axis=axis)
        band_along = np.count_nonzero(band, axis=axis)
        # Where the chain is thick, or crowded by ink over a character's
        # width, it has run on into characters (a heading set tight under a
        # table): that stretch is cut off, the rest kept.
        box = np.ones(window) / window
        crowded = np.convolve(ink_along, box, mode="same") > 0.25 * np.maximum(
            np.convolve(band_along, box, mode="same"), 1e-6)
        bad = crowded | (thick > thin) | (thick == 0)
        # ... and what is left must still be a rule's length, in one run.
        edges = np.flatnonzero(np.diff(np.concatenate(([1], bad.view(np.int8), [1]))))
        for start, stop in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            if stop - start < 4 * char_h:
                bad[start:stop] = True
        if bad.all():
            continue
        if horizontal:
            own[:, bad] = 0
        else:
            own[bad, :] = 0
        region = keep[y0:y1, x0:x1]
        np.maximum(region, own, out=region)
        lo, hi = (min(lo, y0), max(hi, y1)) if horizontal else (min(lo, x0), max(hi, x1))
    # A kept stretch's edge may graze a character: only runs a piece long stay.
    # (Opened along the rules, so only the band of rows, or columns, that
    # holds kept chains needs it.)
    band = (slice(lo, hi), slice(None)) if horizontal else (slice(None), slice(lo, hi))
    if lo < hi:
        keep[band] = cv2.morphologyEx(cv2.bitwise_and(keep[band], pieces[band]), cv2.MORPH_OPEN,
                                      kernel(along(piece)))
    return keep


# Clearance (character heights) a digit keeps from the rules above and below
# it, and its height at most.
GLYPH_CLEARANCE = 0.2
GLYPH_MAX_H = 1.2


def _stacked_glyphs(ink: np.ndarray, rules: np.ndarray, x: int, y: int, w: int, h: int,
                    char_h: float) -> bool:
    """Whether a vertical chain at ``(x, y, w, h)`` is a column of digits, one
    per row, rather than a dashed rule: between each pair of horizontal rules
    it crosses its ink (``ink``, the page's print, not the faint strokes that
    :func:`thin_ink` lengthens) is one solid stroke no taller than a digit,
    clear of both rules. 1s in consecutive rows of a column chain so (held-out
    syn08020, a clean scan: a column edge drawn through three 1s, which were
    then lost); a dashed rule's dashes keep no such step with the rows, and a
    dotted one runs on to the rules."""
    cols = slice(max(0, x - 1), x + w + 1)
    on_rule = rules[y : y + h, cols].any(axis=1)
    inked = ink[y : y + h, cols].any(axis=1) & ~on_rule
    edges = np.flatnonzero(np.diff(np.concatenate(([1], on_rule.view(np.int8), [1]))))
    stretches = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    # (the chain may run on a few pixels past the rule beyond its last glyph)
    while stretches and not inked[slice(*stretches[-1])].any():
        stretches.pop()
    while stretches and not inked[slice(*stretches[0])].any():
        stretches.pop(0)
    if len(stretches) < 2:
        return False
    clear = GLYPH_CLEARANCE * char_h
    for k, (a, b) in enumerate(stretches):
        rows = np.flatnonzero(inked[a:b])
        if rows.size == 0 or rows[-1] - rows[0] + 1 != rows.size or rows.size > GLYPH_MAX_H * char_h:
            return False
        # (the chain's own ends are the glyphs' ends: clearance counts at rules only)
        if (k > 0 and rows[0] < clear) or (k < len(stretches) - 1 and b - a - 1 - rows[-1] < clear):
            return False
    return True


# A dotted vertical rule inks at least this share of each row it crosses,
# from the horizontal rule above to the one below; a digit or a character's
# stroke floats in the middle of its row, covering much less of it.
ROW_COVER = 0.6


def rule_to_rule_strokes(
    ink: np.ndarray, near_h: np.ndarray, char_h: float, beside: np.ndarray, found: np.ndarray
) -> np.ndarray:
    """Vertical rules too broken to chain (a faint dotted rule whose gaps
    approach a character height): thin strokes that, between one horizontal
    rule and the next, ink at least ROW_COVER of that stretch, with no ink
    close beside them.

    ``near_h`` marks the horizontal rules (and their surroundings), ``beside``
    the print that counts as ink beside (the page less its horizontal rules).
    Each stretch of a pixel column between two marks of ``near_h`` counts its
    ink within a pixel either side (a rule wobbles); a stretch 1.2 to 3
    character heights long (a row of one or two lines) that is covered enough
    becomes a rule piece if it continues a vertical rule, ``found`` or itself
    accepted so, in the next row above or below, or if it is one of three or
    more such stretches one under another that runs through a horizontal
    rule at least once (a block's inner rule between rows that span it).
    """
    w = ink.shape[1]
    keep = np.zeros(ink.shape, ink.dtype)  # (untouched pages stay unallocated)
    on_rule = near_h > 0
    rule_rows = np.flatnonzero(on_rule.any(axis=1))
    if len(rule_rows) < 2:
        return keep
    r0, r1 = int(rule_rows[0]), int(rule_rows[-1]) + 1
    inked = np.zeros(ink.shape, dtype=bool)  # only rows between the first and last rule matter
    inked[r0:r1] = cv2.dilate(ink[r0:r1], cv2.getStructuringElement(cv2.MORPH_RECT, (3, 1))) > 0
    # Every third column is enough to find them: ink widened a pixel either
    # side shows a rule in three columns.
    every = 3
    sub_rule, sub_ink = on_rule[r0:r1, ::every], inked[r0:r1, ::every]
    stretch = np.cumsum(sub_rule, axis=0, dtype=np.int32)  # rules crossed from the top
    free = ~sub_rule & (stretch > 0) & (stretch < stretch[-1])  # a rule above and one below
    sw = sub_rule.shape[1]
    key = stretch * sw + np.arange(sw, dtype=np.int32)[None, :]
    length = np.bincount(key[free], minlength=int(key.max()) + 1)
    covered = np.bincount(key[free & sub_ink], minlength=length.size)
    good = (covered >= ROW_COVER * length) & (length >= 1.2 * char_h) & (length <= 3 * char_h)
    if not good.any():
        return keep
    cand = (free & good[key]).astype(np.uint8) * 255
    boxes = []
    for sx, sy, sbw, sbh in piece_boxes(cand).tolist():
        # Back on the full page: the columns that are covered enough.
        y, bh = r0 + sy, sbh
        x_lo, x_hi = max(0, sx * every - every), min(w, (sx + sbw) * every + every)
        cover = np.count_nonzero(inked[y : y + bh, x_lo:x_hi], axis=0) >= ROW_COVER * bh
        if cover.any():
            cols = np.flatnonzero(cover)
            boxes.append((x_lo + int(cols[0]), y, int(cols[-1] - cols[0]) + 1, bh))
    thin = max(3.0, 0.35 * char_h)
    near, far = max(2, int(0.1 * char_h)), max(4, int(0.35 * char_h))
    end = max(2, int(0.15 * char_h))
    wide = max(6, int(0.8 * char_h))
    tol, step = max(2, int(0.15 * char_h)), int(1.5 * char_h)

    def ink_beside(x: int, bw: int, y: int, bh: int, reach: int) -> tuple[np.ndarray, np.ndarray]:
        """The print left and right of a stretch, from ``near`` to ``reach`` away."""
        return (beside[y : y + bh, max(0, x - reach) : max(0, x - near)],
                beside[y : y + bh, min(w, x + bw + near) : min(w, x + bw + reach)])

    pending = []
    for x, y, bw, bh in boxes:  # (each stretch is 1.2 character heights or more)
        if bw > thin:
            continue
        # Already a rule there (most of the stretch): nothing to add.
        if np.count_nonzero(found[y : y + bh, x : x + bw].any(axis=1)) >= 0.5 * bh:
            continue
        # A rule meets a rule at one end at least; a digit's or a bracket's
        # stroke, however tall, keeps clear of both.
        profile = inked[y : y + bh, x : x + bw].any(axis=1)
        if not (profile[:end].any() or profile[-end:].any()):
            continue
        left, right = ink_beside(x, bw, y, bh, far)
        size = left.size + right.size
        if size == 0 or np.count_nonzero(left) + np.count_nonzero(right) > 0.1 * size:
            continue
        # Within a line of text (a heading between two tables, a bracket
        # between characters) a stroke has characters on both sides; a rule
        # has at most one cell's text near it.
        left, right = ink_beside(x, bw, y, bh, wide)
        if min(np.count_nonzero(left) / max(left.size, 1),
               np.count_nonzero(right) / max(right.size, 1)) > 0.03:
            continue
        # Straight: the ink's middle keeps to its column down the stretch (a
        # seal's ring, or a bracket, bends away from it), but for a tenth of
        # its rows (a speck beside a dash; syn05013's worn dashes).
        strip = ink[y : y + bh, max(0, x - tol) : x + bw + tol] > 0
        rows = strip.any(axis=1)
        middles = (strip * np.arange(strip.shape[1])).sum(axis=1)[rows] / strip.sum(axis=1)[rows]
        if np.subtract(*np.percentile(middles, [90, 10])) > max(2.0, 0.12 * char_h):
            continue
        pending.append((x, y, bw, bh))
    # A stretch is a rule only where it continues one, found or accepted, in
    # the row just above or below it, across the horizontal rule between
    # them: a bracket or a digit 1 that fills its row stands alone there.
    if not pending:
        return keep
    rules = found.copy()

    def accept(piece: tuple[int, int, int, int]) -> None:
        # Its own ink (its dots wander a little either side), joined by a
        # thin line down its most inked column: a band any wider would
        # swallow the ink of a digit printed close to it.
        x, y, bw, bh = piece
        cols = slice(max(0, x - tol), x + bw + tol)
        cx = x + int(np.argmax(np.count_nonzero(ink[y : y + bh, x : x + bw], axis=0)))
        np.maximum(keep[y : y + bh, cols], ink[y : y + bh, cols], out=keep[y : y + bh, cols])
        keep[y : y + bh, cx : cx + 2] = 255
        rules[y : y + bh, cx : cx + 2] = 255

    grown = True
    while pending and grown:
        grown = False
        for piece in list(pending):
            x, y, bw, bh = piece
            cols = slice(max(0, x - tol), x + bw + tol)
            if not (rules[max(0, y - step) : y, cols].any() or rules[y + bh : y + bh + step, cols].any()):
                continue
            accept(piece)
            pending.remove(piece)
            grown = True
    # Three or more such stretches in consecutive rows, one under another,
    # are a rule of their own (a block's inner rule, between spanning rows),
    # if it runs unbroken through a horizontal rule at least once: a column
    # of digits (a 0's hole fills in the faint ink) keeps clear of the rules.
    runs: list[list[tuple[int, int, int, int]]] = []
    for piece in sorted(pending, key=lambda p: p[1]):
        for run in runs:
            x, y, bw, bh = run[-1]
            if abs(piece[0] - x) <= tol and 0 <= piece[1] - (y + bh) <= step:
                run.append(piece)
                break
        else:
            runs.append([piece])
    through = max(2, int(0.25 * char_h))

    def crosses(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        x = min(a[0], b[0])
        zone = inked[a[1] + a[3] - through : b[1] + through, x : max(a[0] + a[2], b[0] + b[2])]
        return zone.size > 0 and bool(zone.any(axis=1).all())

    for run in runs:
        if len(run) >= 3 and any(crosses(a, b) for a, b in zip(run, run[1:], strict=False)):
            for piece in run:
                accept(piece)
    return keep


FAINT_SHARE = 0.1
GRAIN_MARGIN = 2.5


def thin_ink(gray: np.ndarray, binary: np.ndarray, char_h: float, *, horizontal: bool,
             contrast: float | None = None) -> np.ndarray:
    """Ink, plus strokes thinner than half a character height across the
    given direction that are darker than their surroundings by a tenth of the
    page's print contrast, and by GRAIN_MARGIN times the paper's own grain.

    A faint rule (toner running out, a light grey line on a fax) is lighter
    than the binarisation's global cut, so it survives there only as sparse
    dots; against the paper just beside it, it is still clearly darker.
    """
    across = max(3, int(0.5 * char_h)) | 1
    k = (1, across) if horizontal else (across, 1)
    darker = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, k))
    # Averaged along the direction over half a character height: a line's
    # dots keep much of their darkness, the paper's grain loses it.
    run = max(3, int(0.5 * char_h))
    darker = cv2.blur(darker, (run, 1) if horizontal else (1, run))
    # Above a tenth of the print contrast (paper: the median level; print:
    # the 1st percentile), and above the paper's grain, which a rough sheet or
    # a noisy sensor lifts (its upper quartile, scaled).
    if contrast is None:
        contrast = print_contrast(gray)
    cut = max(6.0, FAINT_SHARE * contrast, GRAIN_MARGIN * _level(darker, 0.75))
    _, faint = cv2.threshold(darker, cut, 255, cv2.THRESH_BINARY)  # darker > cut
    return cv2.bitwise_or(binary, faint)


def print_contrast(gray: np.ndarray) -> float:
    """Paper level (the median) less print level (the 1st percentile)."""
    return _level(gray, 0.5) - _level(gray, 0.01)


def _level(img: np.ndarray, share: float) -> float:
    """The 8-bit level below which ``share`` of the image lies, from every 4th
    pixel of every 4th row: plenty for a quantile, ~50× cheaper than sorting."""
    sample = img[::4, ::4]
    return float(np.searchsorted(np.cumsum(np.bincount(sample.ravel(), minlength=256)),
                                 share * sample.size))


def ruling_masks(
    binary: np.ndarray, char_h: float, gray: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of horizontal and vertical ruling lines.

    A horizontal piece must run unbroken for two character heights; no stroke
    of a character does. Vertical rules of one-line rows are barely taller
    than the text, so vertical pieces need only 1.2 character heights but must
    then end on a horizontal rule (a character's stroke floats inside its
    cell). Breaks in an eroded line just leave several pieces, which the grid
    builder joins by position and coverage. Given the grey page, dashed and
    dotted rules are also looked for among faint thin strokes (:func:`thin_ink`).
    """
    span = max(8, int(2.0 * char_h))
    short = max(6, int(1.2 * char_h))
    horiz = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (span, 1))
    )

    contrast = None if gray is None else print_contrast(gray)

    def ink(horizontal: bool) -> np.ndarray:
        return binary if gray is None else thin_ink(gray, binary, char_h, horizontal=horizontal,
                                                    contrast=contrast)

    horiz = cv2.bitwise_or(horiz, dashed_rules(ink(True), char_h, horizontal=True, beside=binary))
    ink_v = ink(False)
    vert = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, short))
    )
    vert = cv2.bitwise_or(vert, dashed_rules(ink_v, char_h, horizontal=False, beside=binary, h_rules=horiz))
    reach = max(3, int(0.4 * char_h))
    near_h = cv2.dilate(horiz, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, 2 * reach + 1)))
    stats, outlines = component_boxes(vert)
    keep = np.zeros(len(stats), dtype=bool)
    # Ink apart from the horizontal rules: a rule piece is a thin stroke of its
    # own there, while a character's upright stroke (十, 行 in text that fills its
    # row; the strokes of one column of centred labels line up across rows) is
    # joined to the character's other strokes.
    k = max(2, int(0.15 * char_h))
    h_full = cv2.dilate(horiz, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 2 * k + 1)))
    rest_mask = cv2.bitwise_and(binary, cv2.bitwise_not(h_full))
    rest, rest_stats = label_pieces(rest_mask)
    # Each piece of ``rest``: its width, and its ink per row of height (a
    # stroke's thickness, slanted or not; a character adds its crossing
    # strokes). Label 0 is what lies on a horizontal rule.
    rest_width = rest_stats[:, cv2.CC_STAT_WIDTH].astype(float)
    rest_thickness = rest_stats[:, cv2.CC_STAT_AREA] / np.maximum(rest_stats[:, cv2.CC_STAT_HEIGHT], 1)
    rest_width[0] = rest_thickness[0] = 0.0

    for i, (x, y, w, h) in enumerate(stats.tolist()):
        xc = x + w // 2
        # Most of the piece must be its own thin stroke (a rule touched by a
        # character or a speck here and there still is).
        ids, counts = np.unique(rest[y : y + h, xc], return_counts=True)
        own = 0
        for j, cnt in zip(ids.tolist(), counts.tolist(), strict=True):
            if rest_thickness[j] <= 1.6 * max(w, 2) and rest_width[j] <= 0.6 * char_h:
                own += cnt
        if own < 0.5 * h:
            continue
        if h >= span:
            keep[i] = True
            continue
        top = near_h[max(0, y - 1), xc] > 0
        bottom = near_h[min(near_h.shape[0] - 1, y + h), xc] > 0
        keep[i] = top or bottom
    kept = np.zeros_like(vert)
    cv2.drawContours(kept, [c for c, k_ in zip(outlines, keep, strict=True) if k_], -1, 255, -1)
    vert = cv2.bitwise_and(vert, kept)
    if gray is not None:
        # A dotted horizontal rule often misses the very dots where a vertical
        # one crosses it: rules count as crossing a character height away.
        across = cv2.dilate(horiz, cv2.getStructuringElement(
            cv2.MORPH_RECT, (2 * int(char_h) + 1, 3)))
        vert = cv2.bitwise_or(vert, rule_to_rule_strokes(ink_v, across, char_h, rest_mask, vert))
    return horiz, vert


# An official seal is a ring 38-45 mm across (42 mm for most agencies): its
# radius in millimetres, with room for a scan's scaling.
SEAL_RADIUS_MM = (17.0, 23.0)
# A ring is ink on at least this share of its circle, and on this many times
# less a millimetre and a half inside or outside it (a circle through text
# or a grid finds ink about as often everywhere).
SEAL_RING_COVER = 0.6
# The star of an official seal reaches about this share of the ring's radius
# from its centre (a 42 mm seal's star is about 14 mm across).
SEAL_STAR = 0.4
SEAL_RING_CONTRAST = 2.5


def seal_rings(binary: np.ndarray, dpi: float) -> list[tuple[float, float, float, float]]:
    """The rings of round seals on the page, ``(x, y, radius, half width)`` in
    pixels. A red seal is mostly gone from the grey page (:func:`to_gray`),
    but one scanned in grey, or printed in black, stays: where its ring runs
    nearly straight (at its sides, top and bottom) it passes for pieces of
    rules, which join the tables above and below it into one grid.

    Found by the Hough transform on the page shrunk to about 40 px per
    radius, then checked on the full page: ink all round the circle, little
    just inside and outside it."""
    shrink = max(1, int(SEAL_RADIUS_MM[0] / 25.4 * dpi / 40))
    small = cv2.resize(binary, None, fx=1 / shrink, fy=1 / shrink, interpolation=cv2.INTER_AREA)
    rmin, rmax = (int(mm / 25.4 * dpi / shrink) for mm in SEAL_RADIUS_MM)
    found = cv2.HoughCircles(small, cv2.HOUGH_GRADIENT, dp=1, minDist=2 * rmin, param1=100,
                             param2=20, minRadius=rmin, maxRadius=rmax)
    if found is None:
        return []
    h, w = binary.shape[:2]
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    cos, sin = np.cos(angles), np.sin(angles)

    def cover(x: float, y: float, r: float) -> float:
        xs, ys = (x + r * cos).astype(int), (y + r * sin).astype(int)
        ok = (xs >= 0) & (ys >= 0) & (xs < w) & (ys < h)
        return float(binary[ys[ok], xs[ok]].astype(bool).mean()) if ok.sum() > 0.5 * len(xs) else 0.0

    mm = dpi / 25.4
    rings = []
    for x, y, r in found[0][:4].tolist():
        # The shrunk page places the circle to a few pixels: climb to the
        # centre and radius where the circle runs along the most ink.
        x, y, best = x * shrink, y * shrink, r * shrink
        peak, best = max((cover(x, y, best + d * shrink), best + d * shrink) for d in (-2, -1, 0, 1, 2))
        if peak < 0.5 * SEAL_RING_COVER:  # not a ring: a circle through text
            continue
        for step in (2.0, 1.0):
            for _ in range(4 * shrink):
                moves = [(x + dx, y + dy, best + dr) for dx, dy, dr in
                         ((step, 0, 0), (-step, 0, 0), (0, step, 0), (0, -step, 0), (0, 0, step), (0, 0, -step))]
                got = [cover(*m) for m in moves]
                if max(got) <= peak:
                    break
                peak = max(got)
                x, y, best = moves[int(np.argmax(got))]
        # (Inside, a seal's ring of text may run close: the lesser side counts.)
        off = min(cover(x, y, best - 1.5 * mm), cover(x, y, best + 1.5 * mm))
        if peak < SEAL_RING_COVER or peak < SEAL_RING_CONTRAST * off:
            continue
        # Half the ring's width: how far out from its best radius it stays inked.
        half = 1.0
        while half < mm and min(cover(x, y, best - half), cover(x, y, best + half)) >= 0.5 * peak:
            half += 1.0
        rings.append((x, y, best, half))
    return rings


def ring_band(shape: tuple[int, ...], rings: list[tuple[float, float, float, float]],
              star: bool = False) -> np.ndarray | None:
    """A mask of the seal rings (:func:`seal_rings`), each as a band twice its
    half width either side of its radius; with ``star``, also the disc at its
    centre, SEAL_STAR of its radius, where the star is. None without rings."""
    if not rings:
        return None
    band = np.zeros(shape[:2], np.uint8)
    for x, y, r, half in rings:
        centre = (int(round(x)), int(round(y)))
        cv2.circle(band, centre, int(round(r)), 255, thickness=max(3, int(round(4 * half))))
        if star:
            cv2.circle(band, centre, int(round(SEAL_STAR * r)), 255, thickness=-1)
    return band


# A seal scanned in grey (or printed in black and white) is lighter than the
# print: at least SEAL_LIGHT_SHARE of its ring's ink lies above the level that
# best splits the ink in its disc in two (Otsu), and the lighter part sits
# SEAL_PRINT_GAP of the print's contrast (paper less print) above the darker.
# Over the 32 seal discs of the devset and two held-out sets the lighter part
# sat 0.06-0.65 of that contrast above the darker, and the rings were
# 0.31-0.99 light; discs over faint heavy print, as faint as the seal
# (doc007, doc009, doc019), measured 0.06-0.42. These cuts keep 21 discs. (A
# seal let through wrongly costs a second reading: only a sure reading of
# other text replaces the first, see :func:`_read_past_seals`.)
SEAL_LIGHT_SHARE = 0.8
SEAL_PRINT_GAP = 0.45


def seal_print_cuts(gray: np.ndarray, ink: np.ndarray, rings: list[tuple[float, float, float, float]]
                    ) -> list[tuple[float, float, float, float]]:
    """Per seal ring (:func:`seal_rings`) lighter than the print in its disc,
    ``(x, y, reach, cut)``: ink inside ``reach`` of the centre lighter than
    ``cut`` is the seal's (its ring, star and text), darker is print."""
    if not rings:
        return []
    cuts = []
    paper = _level(gray, 0.5)
    for x, y, r, half in rings:
        reach = r + 2 * half
        window, dist = _disc(gray.shape, x, y, reach)
        inked = (dist <= reach) & (ink[window] > 0)
        values = gray[window][inked]
        if values.size < 100:
            continue
        cut, _ = cv2.threshold(values.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        ring = gray[window][inked & (np.abs(dist - r) <= half)]
        dark, light = values[values <= cut], values[values > cut]
        if ring.size == 0 or dark.size == 0 or light.size == 0:
            continue
        print_level = float(np.median(dark))
        if (np.mean(ring > cut) >= SEAL_LIGHT_SHARE
                and float(np.median(light)) - print_level >= SEAL_PRINT_GAP * (paper - print_level)):
            cuts.append((x, y, reach, float(cut)))
    return cuts


def unsealed_image(work: ScanWork) -> np.ndarray:
    """The page with the ink of its light seals (``work.seal_cuts``) turned to
    paper: print over a seal's star, ring or text is left as it was."""
    if work.unsealed is None:
        out = work.image.copy()
        paper = _level(work.image, 0.5)
        for x, y, reach, cut in work.seal_cuts:
            window, dist = _disc(out.shape, x, y, reach)
            region = out[window]
            region[(dist <= reach) & (region > cut)] = int(paper)
        work.unsealed = out
    return work.unsealed


def _disc(shape: tuple[int, ...], x: float, y: float, reach: float
          ) -> tuple[tuple[slice, slice], np.ndarray]:
    """The page window around a disc, and each pixel's distance from its centre."""
    h, w = shape[:2]
    x0, x1 = int(max(0, x - reach)), int(min(w, x + reach + 1))
    y0, y1 = int(max(0, y - reach)), int(min(h, y + reach + 1))
    yy, xx = np.ogrid[y0:y1, x0:x1]
    return (slice(y0, y1), slice(x0, x1)), np.sqrt((xx - x) ** 2 + (yy - y) ** 2)


def drop_ring_arcs(mask: np.ndarray, band: np.ndarray | None,
                   char_h: float, *, horizontal: bool, short_too: bool = False) -> np.ndarray:
    """The rule mask without its pieces lying mostly on a seal's ring (its
    arcs where they run nearly straight) that are at least two character
    heights long: long enough to join a table to the one below it across a
    heading. Rules that cross the ring keep their length outside it; shorter
    pieces stay (a table's rule the ring runs along, cell by cell). With
    ``short_too`` (for the grid only, ``band`` holding the star too), shorter
    pieces go as well unless a rule runs on in their line beyond the seal
    within four character heights: a star's arm, or an arc crossing a cell,
    would cut that cell's row in two (syn05006, syn08019), and its upright
    stroke would split a column (syn12023), yet its ink is kept out of the
    text. A long upright piece on the star is held to the same test (a column
    rule crossing the star stays, syn11039); a long level one still goes, as
    a five-pointed star's side arms line up level across its whole width
    (syn11018). An upright rule's end that runs on along the ring past its
    table is cut (:func:`_cut_ring_tail`)."""
    if band is None:
        return mask
    boxes, outlines = component_boxes(mask)
    out = mask.copy()
    off_band = None
    for i, ((bx, by, bw, bh), outline) in enumerate(zip(boxes.tolist(), outlines, strict=True)):
        short = (bw if horizontal else bh) < 2 * char_h
        if short and not short_too:
            continue
        if short and not band[by : by + bh, bx : bx + bw].any():
            continue
        own = np.zeros((bh, bw), np.uint8)
        cv2.drawContours(own, [outline], -1, 255, -1, offset=(-bx, -by))
        ink = cv2.bitwise_and(own, mask[by : by + bh, bx : bx + bw])
        inked = np.count_nonzero(ink)
        on_band = cv2.bitwise_and(ink, band[by : by + bh, bx : bx + bw])
        if not inked or np.count_nonzero(on_band) < 0.7 * inked:
            if short_too and not short and not horizontal and on_band.any():
                _cut_ring_tail(out, i, ink, on_band, boxes, char_h)
            continue
        if short or (short_too and not horizontal):
            if off_band is None:
                off_band = cv2.bitwise_and(mask, cv2.bitwise_not(band))
            reach, t = int(4 * char_h), max(2, int(0.2 * char_h))
            along, across = (reach, t) if horizontal else (t, reach)
            if off_band[max(0, by - across) : by + bh + across, max(0, bx - along) : bx + bw + along].any():
                continue
        out[by : by + bh, bx : bx + bw][own > 0] = 0
    return out


def _cut_ring_tail(out: np.ndarray, piece: int, ink: np.ndarray, on_band: np.ndarray,
                   boxes: np.ndarray, char_h: float) -> None:
    """Clear from ``out`` the ends of upright rule piece ``piece`` (of
    ``boxes``; ``ink`` and ``on_band`` within its box) that run on along a
    seal's ring past the table: all on the ring, beyond the rule's last ink
    off it and beyond where the rules beside it (within eight character
    heights, alongside at least half its part off the ring: its table's)
    end, for at least two character heights. Where a table's side meets the
    ring, the arc carries the side on across the heading below to the next
    table, which then became one table with it (held-out syn14021, a clean
    scan: section 三's values read from section 四's columns, 61 cells;
    syn15022). A rule whose end runs along the ring inside its table keeps
    it, as the rules beside it reach as far (syn09028); level rules keep
    theirs (one broken where it runs along the ring's top lost cells'
    edges: syn12004)."""
    bx, by, bw, bh = (int(v) for v in boxes[piece])
    off = cv2.bitwise_and(ink, cv2.bitwise_not(on_band)).any(axis=1)  # rows with ink off the ring
    idx = np.flatnonzero(off)
    if not idx.size:
        return
    lo, hi = by + int(idx[0]), by + int(idx[-1])
    reach = 8 * char_h
    x, y, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    # Rules of its table: beside it, alongside at least half its part off the ring.
    alongside = np.minimum(y + h, hi + 1) - np.maximum(y, lo)
    beside = (x + w > bx - reach) & (x < bx + bw + reach) & (alongside >= 0.5 * (hi + 1 - lo))
    beside[piece] = False
    if not beside.any():
        return
    for start, stop in ((max(hi + 1, int((y + h)[beside].max())), by + bh),
                        (by, min(lo, int(y[beside].min())))):
        if stop - start >= 2 * char_h:
            part = ink[start - by : stop - by]
            out[start:stop, bx : bx + bw][part > 0] = 0


def segments_from_mask(
    mask: np.ndarray, horizontal: bool, char_h: float
) -> list[tuple[float, float, float, float]]:
    """Thin connected pieces of a line mask as (x0, y0, x1, y1) pixel segments."""
    stats, _ = component_boxes(mask)
    segs = []
    max_thick = max(2.0, 0.5 * char_h)
    for x, y, w, h in stats.tolist():
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
    return ink, significant_boxes(piece_boxes(ink), char_h)


def significant_boxes(stats: np.ndarray, char_h: float) -> np.ndarray:
    """Boxes ``(n, 4)`` x0, y0, x1, y1 of the pieces (x, y, w, h) that may be
    text: see :func:`text_blobs`."""
    x, y, w, h = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    big = np.maximum(w, h) >= 0.4 * char_h
    # A minus sign is narrower than that, but flat (specks are round).
    big |= (w >= 0.25 * char_h) & (w >= 2.5 * h)
    # Long thin leftovers of lines are not text.
    # (no character of a one-line cell is thin and taller than 1.6 character heights)
    not_line = ~(((w > 3 * char_h) & (h < 0.3 * char_h)) | ((h > 1.6 * char_h) & (w < 0.3 * char_h)))
    keep = big & not_line
    return np.stack([x, y, x + w, y + h], axis=1)[keep].astype(np.float64)


def group_lines(boxes: np.ndarray, char_h: float) -> list[np.ndarray]:
    """Group blob indices into text lines by vertical overlap, top to bottom."""
    if len(boxes) == 0:
        return []
    # Character-sized pieces first: a flat stroke (the top of 二, a dash) is placed
    # afterwards in the line whose extent holds it, never made a line of its own
    # ahead of the characters around it.
    heights = boxes[:, 3] - boxes[:, 1]
    flat = heights < 0.5 * char_h
    centre = (boxes[:, 1] + boxes[:, 3]) / 2
    order = np.concatenate([np.nonzero(~flat)[0][np.argsort(centre[~flat], kind="stable")],
                            np.nonzero(flat)[0][np.argsort(centre[flat], kind="stable")]])
    lines: list[list[int]] = []
    spans: list[list[float]] = []
    n_tall = int((~flat).sum())
    # Plain lists: this runs over every blob of a page, several times a page.
    tops, bottoms, mids = boxes[:, 1].tolist(), boxes[:, 3].tolist(), centre.tolist()
    for pos, i in enumerate(order.tolist()):
        if pos >= n_tall:
            c = mids[i]
            hit = [k for k, (ly0, ly1) in enumerate(spans) if ly0 <= c <= ly1]
            if hit:
                k = min(hit, key=lambda k: abs((spans[k][0] + spans[k][1]) / 2 - c))
                lines[k].append(i)
                continue
            lines.append([i])
            spans.append([tops[i], bottoms[i]])
            continue
        y0, y1 = tops[i], bottoms[i]
        placed = False
        for k in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            ly0, ly1 = spans[k]
            overlap = min(y1, ly1) - max(y0, ly0)
            # Same line when the vertical extents mostly overlap; a flat stroke
            # (the top of a character, a dash) lies inside its line's extent.
            if overlap >= 0.5 * min(y1 - y0, ly1 - ly0, char_h):
                lines[k].append(i)
                spans[k] = [min(ly0, y0), max(ly1, y1)]
                placed = True
                break
        if not placed:
            lines.append([i])
            spans.append([y0, y1])
    order_lines = sorted(range(len(lines)), key=lambda k: (spans[k][0] + spans[k][1]) / 2)
    lefts = boxes[:, 0].tolist()
    return [np.array(sorted(lines[k], key=lefts.__getitem__)) for k in order_lines]


# --------------------------------------------------------------------------- #
# The stage


_WORK: dict[int, ScanWork] = {}  # id(PageLayout) -> private OCR state, same process


def analyse_page(
    image: np.ndarray, *, dpi: float, index: int, orientation_classifier=None,
    sideways: bool | None = None,
) -> PageLayout:
    """Upright, deskew, and find the table grids of one scanned page.
    ``sideways``: whether the document's previous scanned page was turned a
    quarter (see :func:`text_is_vertical`)."""
    gray = to_gray(image)
    binary = binarise(gray, dpi)
    turns = 0
    if text_is_vertical(binary, prior=sideways):
        turns = 1
        gray = np.ascontiguousarray(np.rot90(gray, 1))
        binary = np.ascontiguousarray(np.rot90(binary, 1))
    skew = estimate_skew(binary)
    if abs(skew) >= 0.05:
        gray = rotate_image(gray, 0, skew)
        binary = binarise(gray, dpi)
    pieces = piece_boxes(binary)
    char_h = measure_char_height(pieces, dpi)
    if upside_down(gray, significant_boxes(pieces, char_h), char_h, orientation_classifier):
        turns += 2
        gray = np.ascontiguousarray(np.rot90(gray, 2))
        binary = np.ascontiguousarray(np.rot90(binary, 2))
    metrics = PageMetrics(char_h=char_h, dpi=dpi)
    horiz, vert = ruling_masks(binary, char_h, gray)
    rings = seal_rings(binary, dpi)
    band = ring_band(binary.shape, rings)
    horiz = drop_ring_arcs(horiz, band, char_h, horizontal=True)
    vert = drop_ring_arcs(vert, band, char_h, horizontal=False)
    star_band = ring_band(binary.shape, rings, star=True)
    h_grid = drop_ring_arcs(horiz, star_band, char_h, horizontal=True, short_too=True)
    v_grid = drop_ring_arcs(vert, star_band, char_h, horizontal=False, short_too=True)
    s = metrics.px_to_pt
    h_segs = [tuple(v * s for v in seg) for seg in segments_from_mask(h_grid, True, char_h)]
    v_segs = [tuple(v * s for v in seg) for seg in segments_from_mask(v_grid, False, char_h)]
    from tallyscan.layout.grid import build_tables, split_cells

    tables = build_tables(h_segs, v_segs, tolerance=0.6 * char_h * s, min_coverage=0.5, page=index)
    tables = [t for t in tables if t.n_rows >= 1 and t.n_cols >= 2]
    ink, boxes = text_blobs(binary, cv2.bitwise_or(horiz, vert), char_h)
    word_h = word_height(boxes, char_h)
    tables = [split_cells(t, *text_splits(t, boxes, char_h, s, word_h), min_gap=char_h * s) for t in tables]
    tables = [split_cells(t, pitch_splits(t), [], min_gap=char_h * s) for t in tables]
    tables = [split_cells(t, *lattice_splits(t, boxes, char_h, s, rings), min_gap=char_h * s) for t in tables]
    tables = _with_unruled_tables(tables, aligned_tables(boxes, char_h, s, index, word_h))
    carried = carried_over_block(boxes, char_h, s, index, tables, word_h)
    if carried is not None:
        tables = [carried, *tables]
    work = ScanWork(image=gray, binary=ink, metrics=metrics, blobs=boxes, ring_band=band, page_ink=binary,
                    seal_cuts=seal_print_cuts(gray, binary, rings))
    lines = _text_lines_outside(tables, boxes, char_h, s)
    _return_taken_print(tables, work)
    _assign_blobs(tables, work)
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


def upside_down(gray: np.ndarray, boxes: np.ndarray, char_h: float, classifier) -> bool:
    """Ask the text-direction classifier about the page's widest runs of words
    (``boxes``: the page's blobs, :func:`significant_boxes`).

    Pieces taller than a glyph (rules, a seal's arc) are left out, so a
    table's rows do not run together into one tall "line"; a line still taller
    than a line of text is not asked, and each answer counts by how sure it is
    (2p - 1): an unsure answer about such scraps, or about a row of zeros,
    which read the same either way up, must not outvote sure ones."""
    if classifier is None:
        from tallyscan.ocr.orientation import get_orientation_classifier

        classifier = get_orientation_classifier()
    boxes = boxes[boxes[:, 3] - boxes[:, 1] <= 1.5 * char_h]
    # Runs of words, not whole lines: a table row's first characters are its
    # label only when the page is upright, and a row of zeros reads the same
    # either way up.
    runs = [box for line in _line_tokens(boxes, char_h) for box, numeric in line
            if not numeric and box[3] - box[1] <= 2 * char_h and box[2] - box[0] >= 3 * char_h]
    crops = []
    for x0, y0, x1, y1 in sorted(runs, key=lambda b: b[2] - b[0], reverse=True)[:8]:
        # Limit to ~12 characters so the classifier sees text at its own scale.
        x1 = min(x1, x0 + 12 * char_h)
        m = 0.2 * char_h
        crop = gray[int(max(0, y0 - m)) : int(y1 + m), int(max(0, x0 - m)) : int(x1 + m)]
        if crop.size:
            crops.append(crop)
    if not crops:
        return False
    score = 0.0
    # The widest runs first; the rest only when their votes could still turn
    # the sum (each counts at most 1): a plainly upright page asks five.
    for part in (crops[:5], crops[5:]):
        if not part or abs(score) > len(part):
            break
        score += sum((2 * p - 1) * (1 if angle == 180 else -1) for angle, p in classifier.classify(part))
    return score > 0


# A table found from text alignment gives way to the ruled tables over it when
# they hold at least this share of its values each alone in a cell: the rules
# found that table. Otherwise the ruled tables inside it are fragments of a
# faint or broken grid (one cell holding several values), and give way.
RULED_SEPARATES = 0.6


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(a, b) -> bool:
    """Box a lies within box b (with a point's slack)."""
    return a[0] >= b[0] - 1 and a[1] >= b[1] - 1 and a[2] <= b[2] + 1 and a[3] <= b[3] + 1


def _separated_share(points: np.ndarray, tables: list[Table]) -> float:
    """Share of the points (x, y, line) that lie in a cell of the tables with
    no other point of their line (a header's two lines may share one)."""
    if not len(points):
        return 1.0
    boxes = np.array([c.bbox for t in tables for c in t.cells], dtype=float).reshape(-1, 4)
    x, y = points[:, 0:1], points[:, 1:2]
    inside = (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
    cell = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    owners = Counter(zip(cell.tolist(), points[:, 2].tolist(), strict=True))
    alone = sum(n for (c, _), n in owners.items() if c >= 0 and n == 1)
    return alone / len(points)


def _with_unruled_tables(ruled: list[Table], aligned: list[tuple[Table, np.ndarray]]) -> list[Table]:
    """The page's ruled tables plus the tables found from text alignment where
    the rules are gone: a whole fax-like page, one table printed without rules
    or with rules too faint to find, or one found only as fragments.

    ``aligned`` pairs each table with its values' points (see
    :func:`aligned_tables`). An aligned table is dropped where the ruled tables
    over it separate its values (RULED_SEPARATES), or one of them straddles
    its edge; otherwise it replaces the ruled fragments lying inside it.
    """
    out = list(ruled)
    for t, points in aligned:
        over = [r for r in ruled if _overlaps(r.bbox, t.bbox)]
        if over and _separated_share(points, over) >= RULED_SEPARATES:
            continue
        if any(not _inside(r.bbox, t.bbox) for r in over):
            continue
        if any(_overlaps(o.bbox, t.bbox) for o in out if o.unruled):
            continue
        fragments = {id(r) for r in over}
        out = [r for r in out if id(r) not in fragments] + [t]
    return sorted(out, key=lambda t: (t.bbox[1], t.bbox[0]))


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


# Print the rule mask took from inside a cell, given back to be read: a
# stroke at least this many character heights tall and at most TAKEN_MAX_H,
# clear of the cell's sides, its middle at least TAKEN_MIDDLE of the cell's
# width from either side (a rule the grid placed a little off sits near one).
TAKEN_MIN_H = 0.5
TAKEN_MAX_H = 1.2
TAKEN_MIDDLE = 0.25


def _return_taken_print(tables: list[Table], work: ScanWork) -> None:
    """Give back to the text the print the rule masks took from the middle of
    a cell: a column of 1s in consecutive rows, faint strokes lengthened by
    :func:`thin_ink`, chains across the rules between them into what looks
    like a dashed rule, and the cells would read blank (syn07028: a total's 1
    lost, its row then 'confirmed' with a 0). The grid did not take it as a
    column edge (it is in the cell's middle, clear of its top and bottom);
    its ink goes back into ``work.binary`` and its box into ``work.blobs``."""
    if work.page_ink is None:
        return
    ch = work.metrics.char_h
    s = work.metrics.px_to_pt
    m = SPECK_BORDER * ch
    height, width = work.binary.shape[:2]
    low, high = TAKEN_MIN_H * ch, TAKEN_MAX_H * ch
    taken = None
    added = []
    for t in tables:
        for c in t.cells:
            x0, y0, x1, y1 = (v / s for v in c.bbox)
            xa, ya = max(0, int(x0 + m)), max(0, int(y0 + m))
            xb, yb = min(width, int(x1 - m)), min(height, int(y1 - m))
            if xb - xa < 3 or yb - ya < low:
                continue
            if taken is None:
                taken = cv2.bitwise_and(work.page_ink, cv2.bitwise_not(work.binary))
            inner = taken[ya:yb, xa:xb]
            if not inner.any():
                continue
            stats = cv2.connectedComponentsWithStats(inner, connectivity=8)[2]
            cw = x1 - x0
            for x, y, bw, bh, _ in stats[1:].tolist():
                mid = xa + x + bw / 2
                if (x > 0 and y > 0 and x + bw < xb - xa and y + bh < yb - ya
                        and low <= bh <= high
                        and min(mid - x0, x1 - mid) >= TAKEN_MIDDLE * cw):
                    box = (xa + x, ya + y, xa + x + bw, ya + y + bh)
                    region = (slice(box[1], box[3]), slice(box[0], box[2]))
                    np.maximum(work.binary[region], work.page_ink[region], out=work.binary[region])
                    added.append(box)
    if added:
        work.blobs = np.concatenate([work.blobs.reshape(-1, 4), np.array(added, np.float64)])


def _assign_blobs(tables: list[Table], work: ScanWork) -> None:
    """Each cell's blobs: those whose middle lies in it (less a seal's arcs)."""
    boxes, s = work.blobs, work.metrics.px_to_pt
    if len(boxes) == 0:
        return
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 * s
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 * s
    for t in tables:
        for c in t.cells:
            x0, y0, x1, y1 = c.bbox
            sel = np.nonzero((cx > x0) & (cx < x1) & (cy > y0) & (cy < y1))[0].tolist()
            work.cell_blobs[id(c)] = _off_rings(work, sel) if work.ring_band is not None else sel


# --------------------------------------------------------------------------- #
# OCR of cells


# Words read by their first characters (labels, headings, column headers) go
# to the recogniser squeezed to this share of their width: its cost is linear
# in width, and a CJK character squeezed so still spans three or more of its
# frames (one per 8 columns of its 48-row input).
WORD_WIDTH_SCALE = 0.75


def cell_crops(
    cell: Cell, work: ScanWork, max_chars: float | None = None, skip_chars: float = 0.0,
    unsealed: bool = False,
) -> list[tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]]:
    """One crop per text line inside the cell: grey pixels, ink, bbox in pixels.

    ``max_chars`` keeps only the first N character widths of each line: enough
    to tell labels apart at a fraction of the OCR cost, and squeezes the crop
    to WORD_WIDTH_SCALE of its width; ``skip_chars`` (with ``max_chars``)
    leaves out the first N of those. ``unsealed``: the grey
    pixels less the page's light seals (:func:`unsealed_image`).
    """
    idx = work.cell_blobs.get(id(cell), [])
    if not idx:
        return []
    ch = work.metrics.char_h
    boxes = work.blobs[idx]
    out = []
    image = unsealed_image(work) if unsealed else work.image
    h, w = image.shape[:2]
    lines = group_lines(boxes, ch)
    tall = [bool(((boxes[line, 3] - boxes[line, 1]) >= 0.5 * ch).any()) for line in lines]
    if any(tall):
        # A line of flat pieces only, beside lines of characters, is a rule's
        # remnant or a smudge, not text.
        lines = [line for line, t in zip(lines, tall, strict=True) if t]
    if max_chars is None:
        lines = _join_split_glyphs(boxes, lines, ch)
        if len(lines) > 1:  # (a cell of scraps alone is blank: see scrap_blank)
            scrap = _scraps(cell, work, boxes)
            lines = [line for line in lines if not scrap[line].all()] or lines
        # A scrap of the rule at the cell's side, beside the number on its
        # line, would be read as a 1.
        side = _side_scraps(cell, work, boxes)
        lines = [line[~side[line]] if side[line].any() and not side[line].all() else line
                 for line in lines]
    for line in lines:
        b = boxes[line]
        if max_chars is None:
            b = _drop_stray_runs(b, ch)
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        if max_chars is not None:
            x1 = min(x1, x0 + max_chars * ch)
            x0 = min(x0 + skip_chars * ch, max(x0, x1 - ch))
        else:
            x0 = _reach_small_ink(work, cell, x0, y0, x1, y1)
            x1 = _reach_ink_right(work, cell, x1, y0, y1)
        mx, my = 0.25 * ch, 0.15 * ch
        X0, Y0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
        X1, Y1 = int(min(w, x1 + mx)), int(min(h, y1 + my))
        if X1 - X0 < 2 or Y1 - Y0 < 2:
            continue
        crop = image[Y0:Y1, X0:X1]
        if max_chars is not None:
            # (words read by their first characters: squeezed, see WORD_WIDTH_SCALE)
            crop = cv2.resize(crop, (max(2, round(crop.shape[1] * WORD_WIDTH_SCALE)), crop.shape[0]),
                              interpolation=cv2.INTER_AREA)
        out.append((crop, _blob_ink(work, b, x0, x1), (x0, y0, x1, y1)))
    return out


def _seal_over(work: ScanWork, box) -> tuple[float, float, float, float] | None:
    """The first light seal (``work.seal_cuts``) whose disc a pixel box reaches into."""
    x0, y0, x1, y1 = box
    for seal in work.seal_cuts:
        x, y, reach, _ = seal
        dx, dy = max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1)
        if dx * dx + dy * dy < reach * reach:
            return seal
    return None


def _in_seal(work: ScanWork, box: tuple[float, float, float, float]) -> bool:
    """Whether a pixel box reaches into the disc of a light seal."""
    return _seal_over(work, box) is not None


# A piece with at least this share of its ink on a seal's ring, and longer
# than this many character heights (than any glyph: a digit's stroke may lie
# along the ring), is the ring's.
ON_RING_SHARE = 0.85
ON_RING_LENGTH = 1.1
# ... and lies at least this many character heights clear of the cell's print.
ON_RING_GAP = 0.2


def _off_rings(work: ScanWork, idx: list[int]) -> list[int]:
    """A cell's blobs less the pieces of a seal's ring in it (arcs beside a 0
    make the cell look like words, or read as L), where anything else is
    left. An arc runs from rule to rule, longer than any glyph, and lies
    apart from the cell's print: a piece joining a digit to the ring (the
    slant of a 4 along it) overlaps the digit's other pieces and is kept.
    Nothing is erased: print under the ring stays in the crops' pixels; only
    the crops' extent no longer reaches out to the arcs."""
    ch = work.metrics.char_h
    arcs, rest = [], []
    for i in idx:
        x0, y0, x1, y1 = (int(v) for v in work.blobs[i])
        on = 0.0
        if max(x1 - x0, y1 - y0) >= ON_RING_LENGTH * ch:  # longer than a glyph
            ink = work.binary[y0:y1, x0:x1]
            inked = cv2.countNonZero(ink)
            if inked:
                on = cv2.countNonZero(cv2.bitwise_and(ink, work.ring_band[y0:y1, x0:x1])) / inked
        (arcs if on >= ON_RING_SHARE else rest).append(i)
    if not arcs or not rest:
        return idx
    gap = ON_RING_GAP * ch
    left = min(work.blobs[i][0] for i in rest) - gap
    right = max(work.blobs[i][2] for i in rest) + gap
    apart = {i for i in arcs if work.blobs[i][2] <= left or work.blobs[i][0] >= right}
    return [i for i in idx if i not in apart] if apart else idx


def _join_split_glyphs(boxes: np.ndarray, lines: list[np.ndarray], ch: float) -> list[np.ndarray]:
    """A number's lines with the halves of faded glyphs joined: a "5" whose
    middle faded away is two stacked pieces that group as two lines, and reads
    as "55". Lines are joined when together they are no taller than a
    character (two printed lines are nearly twice that) and they overlap
    horizontally or together are no wider than a digit (the halves of a slanted
    stroke barely overlap), one holding a piece of a glyph's height: two flat
    strokes (a dash over a rule's remnant) stay apart, or they read as 二; a
    faded 2's hook over its flat base joins (read apart, "21": syn09012)."""
    out: list[np.ndarray] = []
    for line in lines:
        if out:
            prev = out[-1]
            a, b = boxes[prev], boxes[line]
            top = min(a[:, 1].min(), b[:, 1].min())
            bottom = max(a[:, 3].max(), b[:, 3].max())
            overlap = min(a[:, 2].max(), b[:, 2].max()) - max(a[:, 0].min(), b[:, 0].min())
            narrower = min(a[:, 2].max() - a[:, 0].min(), b[:, 2].max() - b[:, 0].min())
            width = max(a[:, 2].max(), b[:, 2].max()) - min(a[:, 0].min(), b[:, 0].min())
            glyphs = max((a[:, 3] - a[:, 1]).max(), (b[:, 3] - b[:, 1]).max()) >= 0.4 * ch
            if glyphs and bottom - top <= 1.1 * ch and (overlap >= 0.5 * narrower or width <= 0.8 * ch):
                joined = np.concatenate([prev, line])
                out[-1] = joined[np.argsort(boxes[joined, 0], kind="stable")]
                continue
        out.append(line)
    return out


def _drop_stray_runs(b: np.ndarray, ch: float) -> np.ndarray:
    """A number's line without the runs of small pieces set apart from it
    (specks, scraps of a rule: they only widen the crop). Runs are cut at gaps
    over 0.6 character heights; a run is kept if it has a piece at least half
    a character high, or if no run has."""
    b = b[np.argsort(b[:, 0])]
    runs, start = [], 0
    for k in range(1, len(b) + 1):
        if k == len(b) or b[k, 0] - b[start:k, 2].max() > 0.6 * ch:
            runs.append(b[start:k])
            start = k
    keep = [r for r in runs if ((r[:, 3] - r[:, 1]) >= 0.5 * ch).any()]
    return np.concatenate(keep) if keep else b


def _blob_ink(work: ScanWork, boxes: np.ndarray, x0: float, x1: float) -> np.ndarray:
    """All ink (rules removed) within the line's blobs' extent and [x0, x1]:
    what :func:`recognise_crops` compares crops by. Not the blobs' ink alone:
    a glyph a fax broke into pieces too small to be blobs ("2" as its flat
    base only) would then look like another crop's "1" plus a dash."""
    bx = boxes.astype(np.int64)
    X0, X1 = int(x0), int(np.ceil(x1))
    Y0, Y1 = int(bx[:, 1].min()), int(bx[:, 3].max())
    out = work.binary[Y0:Y1, X0:X1]
    return out.copy() if out.size else np.zeros((1, 1), np.uint8)


def _reach_small_ink(
    work: ScanWork, cell: Cell, x0: float, y0: float, x1: float, y1: float
) -> float:
    """Where a number's line starts once a faint minus sign in front of it, too
    small to be a blob, is counted: ink in the middle band of the line's height
    (where a minus sits; specks fall anywhere) within 0.6 character heights
    to the left, inside the cell."""
    ch = work.metrics.char_h
    s = work.metrics.px_to_pt
    cx0 = int(cell.bbox[0] / s + 0.15 * ch)
    h = y1 - y0
    ya, yb = int(y0 + 0.3 * h), int(np.ceil(y0 + 0.7 * h))
    xa = max(cx0, int(x0 - 0.6 * ch))
    if int(x0) - xa < 1 or yb - ya < 1:
        return x0
    # Gaps counted from column to column here, not as empty columns: one less.
    reach = _ink_reach(work.binary[ya:yb, xa : int(x0)].any(axis=0)[::-1], 0.3 * ch - 1)
    return float(min(x0, int(x0) - reach))


def _reach_ink_right(work: ScanWork, cell: Cell, x1: float, y0: float, y1: float) -> float:
    """Where a number's line ends once ink just right of its last blob is
    counted: a fax can break a digit into pieces too small to be blobs (a "2"
    whose base alone is kept), and a crop cut through the rest of that digit
    reads as a confident, wrong number. Ink within the line's height, in
    gaps under 0.3 character heights, inside the cell."""
    ch = work.metrics.char_h
    s = work.metrics.px_to_pt
    cx1 = int(cell.bbox[2] / s - 0.15 * ch)
    xa, xb = int(np.ceil(x1)), cx1
    ya, yb = int(y0), int(np.ceil(y1))
    if xb - xa < 1 or yb - ya < 1:
        return x1
    return float(max(x1, xa + _ink_reach(work.binary[ya:yb, xa:xb].any(axis=0), 0.3 * ch)))


def _ink_reach(inked: np.ndarray, gap: float) -> int:
    """How many columns, counted outward from a line's edge (``inked``: whether
    each column holds ink, nearest first), the line's ink runs on with no more
    than ``gap`` empty columns at a time."""
    reach = 0
    for x in np.flatnonzero(inked).tolist():
        if x - reach > gap:
            break
        reach = x + 1
    return reach


def dash_reading(cell: Cell, work: ScanWork) -> Reading | None:
    """A lone flat stroke (—, -, 一) is a printed zero; recognise it by shape.
    A fax may break it into flat pieces side by side (read, "12")."""
    idx = work.cell_blobs.get(id(cell), [])
    if not idx:
        return None
    ch = work.metrics.char_h
    b = work.blobs[idx]
    if len(b) > 1:
        b = b[np.argsort(b[:, 0])]
        gaps = b[1:, 0] - np.maximum.accumulate(b[:-1, 2])
        if (b[:, 3] - b[:, 1]).max() > 0.3 * ch or gaps.max() > 0.3 * ch:
            return None
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    bw, bh = x1 - x0, y1 - y0
    if bh <= 0.3 * ch and bw >= 0.4 * ch and bw >= 3 * bh:
        text = "—" if bw >= 0.8 * ch else "-"
        return Reading(text=text, confidence=0.99, alternatives=[[(text, 0.99)]])
    return None


# A piece smaller than this (character heights, both sides) is no digit: a
# printed digit is about 0.7 tall ...
SPECK_SIZE = 0.5
# ... and one this close to the cell's border is a rule's scrap or a speck.
SPECK_BORDER = 0.2
# A stroke narrower than this (character heights) that runs across the cell's
# border is a scrap of the rule there: printed text keeps inside its cell.
SCRAP_WIDTH = 0.25
# A cell holding only such scraps is blank, but not surely: its zero is
# trusted only where the sums pin it.
SCRAP_BLANK_CONFIDENCE = 0.5


def _scraps(cell: Cell, work: ScanWork, boxes: np.ndarray) -> np.ndarray:
    """Which of a cell's pieces are specks at its border or thin strokes across
    it: a broken rule's scraps or a fax's specks, which read as a sure "1"
    (doc004's 150 dpi fax: three blank cells read as 1; doc017: 0 read as 10)."""
    ch = work.metrics.char_h
    s = work.metrics.px_to_pt
    x0, y0, x1, y1 = (v / s for v in cell.bbox)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    m = SPECK_BORDER * ch
    near = (boxes[:, 0] <= x0 + m) | (boxes[:, 2] >= x1 - m) | (boxes[:, 1] <= y0 + m) | (boxes[:, 3] >= y1 - m)
    across = (boxes[:, 0] < x0) | (boxes[:, 2] > x1) | (boxes[:, 1] < y0) | (boxes[:, 3] > y1)
    speck = (w < SPECK_SIZE * ch) & (h < SPECK_SIZE * ch) & near
    return speck | ((w < SCRAP_WIDTH * ch) & across) | _side_scraps(cell, work, boxes)


def _traces_of_print(cell: Cell, work: ScanWork) -> bool:
    """Whether a cell with no piece of ink big enough to be text still holds
    specks that, bridged over a quarter character height, make one: a digit
    worn down to dots (a faint 3 on a fax), which leaves the cell unsure."""
    ch = work.metrics.char_h
    m = SPECK_BORDER * ch
    x0, y0, x1, y1 = (v / work.metrics.px_to_pt for v in cell.bbox)
    inside = (slice(int(y0 + m), int(y1 - m)), slice(int(x0 + m), int(x1 - m)))
    inner = work.binary[inside]
    if inner.size == 0:
        return False
    if not inner.any():
        return _print_taken_for_rule(work.page_ink[inside] if work.page_ink is not None else None, ch)
    k = max(2, int(0.25 * ch))
    joined = cv2.morphologyEx(inner, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    stats = cv2.connectedComponentsWithStats(joined, connectivity=8)[2][1:]
    return bool((np.maximum(stats[:, 2], stats[:, 3]) >= 0.4 * ch).any())


def _print_taken_for_rule(inner: np.ndarray | None, ch: float) -> bool:
    """Whether a cell's inside, empty once the rules are taken out, held a
    piece of ink at least half a character high clear of its sides: print
    the rule mask took (a column of 1s in consecutive rows chains, across the
    rules between them, into what looks like a dashed rule). A rule that
    crosses a cell runs on to its sides."""
    if inner is None or not inner.any():
        return False
    h, w = inner.shape
    stats = cv2.connectedComponentsWithStats(inner, connectivity=8)[2][1:]
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    clear = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    return bool((clear & (bh >= 0.5 * ch)).any())


def _side_scraps(cell: Cell, work: ScanWork, boxes: np.ndarray) -> np.ndarray:
    """Which of a cell's pieces are upright strokes narrower than SCRAP_WIDTH
    touching or crossing its left or right border: what a dotted rule leaves
    beside its mask (printed text keeps clear of the rules)."""
    ch = work.metrics.char_h
    x0, _, x1, _ = (v / work.metrics.px_to_pt for v in cell.bbox)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return (w < SCRAP_WIDTH * ch) & (h > w) & ((boxes[:, 0] <= x0 + 1) | (boxes[:, 2] >= x1 - 1))


def scrap_blank(cell: Cell, work: ScanWork) -> Reading | None:
    """A cell whose only ink is scraps at its border (:func:`_scraps`) is blank,
    with a confidence that leaves it to the sums."""
    idx = work.cell_blobs.get(id(cell), [])
    if not idx:
        return None
    # Every value cell comes here: most hold a piece too big to be a scrap
    # whatever its place, told without the arrays of _scraps.
    big, thin = SPECK_SIZE * work.metrics.char_h, SCRAP_WIDTH * work.metrics.char_h
    for x0, y0, x1, y1 in work.blobs[idx].tolist():
        if x1 - x0 >= big or (y1 - y0 >= big and x1 - x0 >= thin):
            return None
    if not _scraps(cell, work, work.blobs[idx]).all():
        return None
    return Reading.empty(confidence=SCRAP_BLANK_CONFIDENCE)


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
    square = character_sized(b, ch)
    if work.seal_cuts and int(square.sum()) >= 2:
        # A light seal's characters over a value are the seal's, not words
        # (held-out syn12016: 0s under a grey seal's text read as 不, 草).
        square &= np.array([not _seal_ink(work, box) for box in b.tolist()])
    return int(square.sum()) >= 2


def _seal_ink(work: ScanWork, box: list[float]) -> bool:
    """Whether a blob (a pixel box) is a light seal's ink: inside a seal's
    disc, most of its ink lighter than the seal's cut (:func:`seal_print_cuts`)."""
    seal = _seal_over(work, box)
    if seal is None:
        return False
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    inked = work.binary[y0:y1, x0:x1] > 0
    return bool(inked.any() and np.median(work.image[y0:y1, x0:x1][inked]) > seal[3])


def character_sized(boxes: np.ndarray, char_h: float) -> np.ndarray:
    """Which blobs are square and character-sized: a CJK character's, not a
    digit's (about half as wide as tall) nor a speck's."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return (w >= 0.75 * char_h) & (h >= 0.6 * char_h)


def _label_columns(table: Table, work: ScanWork) -> set[int]:
    """Columns holding row labels rather than values: most of their filled
    one-column cells hold words (a long number, 764224, is as wide as a label;
    the header words over a value column are outnumbered by its values)."""
    words: dict[int, list[bool]] = {}
    for c in table.cells:
        if c.col_span != 1 or not work.cell_blobs.get(id(c)):
            continue
        words.setdefault(c.col, []).append(_looks_like_words(c, work))
    return {col for col, w in words.items() if np.mean(w) > 0.5}


# A crop whose ink matches an already-read crop of the same page this closely
# (share of ink pixels that differ, the ink of both crops' blobs scaled to
# SIG_HEIGHT rows) takes that crop's reading instead of being read again.
# One glyph printed twice differs by ~0.0-0.1 on clean and mild scans and by
# ~0.1-0.3 on heavy ones; different glyphs of one font can differ by as little
# as 0.12-0.15: over the devset and 20 held-out reports, 2710 crops matched
# within 0.15 and 5 of them read differently alone, all at 0.12 or more ("8"
# taken for a "6" twice and for a "0", 采购项 for 采购总, "0" for "0."), the
# "6"s then flagged only because a sum broke. 0.12 reads ~7% more crops.
# Even so a bold 8 took a 6's reading at 0.107 (held-out syn11036, mild: the
# 6's hook closes in the ink, so even their holes agree), and in section 二 no
# sum catches that: numbers in its narrow tables are always read themselves.
GLYPH_MATCH = 0.12
# ... and only when that reading was itself sure: an unsure reading is read anew.
GLYPH_REUSE_CONFIDENCE = 0.97
# A number's reading is passed on only when its digits are all 0s and 1s: the
# other digits differ from each other by a stroke (a 6's open hook against an
# 8's loop: held-out syn12001 and syn13026, a mild 6 within 0.074-0.118 of an
# 8 and given its sure reading, the sums then broken). Over the devset and 60
# held-out reports, 90% of the readings passed on were 0 and 5% were 1, and
# no 0 or 1 within GLYPH_MATCH read differently alone.
REUSABLE_DIGITS = frozenset("01")
SIG_HEIGHT = 16
# Two lone 0s may differ more than that, as heavy scans wear them unevenly,
# and still be no other digit: a glyph of one piece around one hole that
# takes up most of its height, centred (a 6's and a 9's hole sit low and high,
# an 8 has two) takes a sure "0" read from another such glyph within
# ZERO_MATCH. Over the devset and two held-out sets, of the 0-shaped crops
# within 0.3 of a sure 0, every one read alone as 0 or as nothing (a blank,
# the same value), but one unsure 白.
ZERO_MATCH = 0.3


@dataclass
class Crop:
    """One text line to read: its grey pixels, the ink it is compared with
    other crops by (lines removed, tightly cropped), and where the line lies."""

    image: np.ndarray
    ink: np.ndarray
    numeric: bool
    bbox: tuple[float, float, float, float] | None = None  # the line's extent, pixels
    # Whether it may take another crop's reading (see recognise_crops).
    reuse: bool = True


def crop_signature(ink: np.ndarray) -> np.ndarray | None:
    """The crop's ink scaled to SIG_HEIGHT rows (aspect kept), 0..1, for matching."""
    h, w = ink.shape[:2]
    if h < 2 or w < 2 or not ink.any():
        return None
    sw = max(3, int(round(SIG_HEIGHT * w / h)))
    return cv2.resize(ink.astype(np.float32) / 255.0, (sw, SIG_HEIGHT), interpolation=cv2.INTER_AREA)


def glyph_distance(a: Crop, sa: np.ndarray, b: Crop, sb: np.ndarray) -> float:
    """Share of ink that differs between two crops, in their worst
    character-sized window; inf unless their sizes agree."""
    if sa.shape != sb.shape:
        return float("inf")
    (ha, wa), (hb, wb) = a.ink.shape[:2], b.ink.shape[:2]
    if abs(ha - hb) > max(1.0, 0.15 * ha) or abs(wa - wb) > max(1.0, 0.15 * wa):
        return float("inf")
    # Judged one character-sized window at a time (half a window apart), the
    # worst window counting: in a long label one different character is a
    # small share of all the ink, but most of its window's.
    diff = np.abs(sa - sb).sum(axis=0)
    ink = np.maximum(sa.sum(axis=0), sb.sum(axis=0))
    width = sa.shape[1]
    win = SIG_HEIGHT
    worst = 0.0
    for x in range(0, max(width - win, 0) + 1, win // 2):
        d, i = float(diff[x : x + win].sum()), float(ink[x : x + win].sum())
        if d > 0:
            worst = max(worst, d / max(i, 1e-6))
    if width > win and (width - win) % (win // 2):
        d, i = float(diff[-win:].sum()), float(ink[-win:].sum())
        if d > 0:
            worst = max(worst, d / max(i, 1e-6))
    return worst


def recognise_crops(engine, crops: list[Crop]) -> list[Reading]:
    """Read crops, each distinct-looking one once.

    Crops are grouped greedily: a crop whose ink is within GLYPH_MATCH of a
    group's first crop (same mode, same size) joins it; a 0-shaped number
    crop (:func:`zero_shaped`) that matches none so joins a 0-shaped one
    within ZERO_MATCH, and takes its reading only where that is a sure "0".
    Each group's first crop is read; the others take a copy of that reading when it is sure (>=
    GLYPH_REUSE_CONFIDENCE) and, for a number, made of 0s and 1s
    (REUSABLE_DIGITS), and are read themselves otherwise, so every reading
    (text, confidence, alternatives, insertions) is one the engine produced for
    a crop that looks the same. A crop marked not to ``reuse`` is read
    itself (others may still take its reading).
    """
    sigs = [crop_signature(c.ink) for c in crops]
    zero: dict[int, bool] = {}  # zero_shaped, for the crops it was asked of

    def is_zero(k: int) -> bool:
        if k not in zero:
            zero[k] = zero_shaped(crops[k].ink)
        return zero[k]

    leader_of = list(range(len(crops)))
    leaders: dict[tuple[bool, tuple[int, int]], list[int]] = {}
    loose: set[int] = set()  # crops grouped by ZERO_MATCH only
    for i, (c, s) in enumerate(zip(crops, sigs, strict=True)):
        if s is None:
            continue
        group = leaders.setdefault((c.numeric, s.shape), [])
        match = None
        near: list[tuple[int, float]] = []  # leaders farther than GLYPH_MATCH
        for j in group if c.reuse else ():
            d = glyph_distance(c, s, crops[j], sigs[j])
            if d <= GLYPH_MATCH:
                match = j
                break
            near.append((j, d))
        if match is None and c.numeric and near and is_zero(i):
            match = next((j for j, d in near if d <= ZERO_MATCH and is_zero(j)), None)
            if match is not None:
                loose.add(i)
        if match is None:
            group.append(i)
        else:
            leader_of[i] = match
    first = [i for i in range(len(crops)) if leader_of[i] == i]
    out: list[Reading | None] = [None] * len(crops)
    _read_into(engine, crops, first, out)
    again = []
    for i, j in enumerate(leader_of):
        if j == i:
            continue
        r = out[j]
        if (r is not None and r.text and r.confidence >= GLYPH_REUSE_CONFIDENCE and _passes_on(r, crops[j])
                and (i not in loose or r.text == "0")):
            out[i] = copy.deepcopy(r)
        else:
            again.append(i)
    _read_into(engine, crops, again, out)
    return [r if r is not None else Reading.empty() for r in out]


def zero_shaped(ink: np.ndarray) -> bool:
    """Whether a crop's ink is one glyph shaped like a 0: one piece around one
    hole, the hole at least half the glyph's height and centred, the glyph
    0.3-0.85 as wide as tall (see ZERO_MATCH)."""
    contours, hierarchy = cv2.findContours((ink > 0).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None or len(contours) != 2:
        return False
    outer, hole = (0, 1) if hierarchy[0][0][3] < 0 else (1, 0)
    if hierarchy[0][hole][3] != outer:
        return False
    ox, oy, ow, oh = cv2.boundingRect(contours[outer])
    hx, hy, hw, hh = cv2.boundingRect(contours[hole])
    return (hh >= 0.5 * oh and hw >= 0.25 * ow and 0.3 * oh <= ow <= 0.85 * oh
            and abs(hy + hh / 2 - (oy + oh / 2)) <= 0.12 * oh and abs(hx + hw / 2 - (ox + ow / 2)) <= 0.15 * ow)


def _passes_on(reading: Reading, crop: Crop) -> bool:
    """Whether look-alike crops may take ``reading`` (see REUSABLE_DIGITS)."""
    return not crop.numeric or all(ch in REUSABLE_DIGITS for ch in reading.text if ch.isdigit())


def _read_into(engine, crops: list[Crop], idx: list[int], out: list[Reading | None]) -> None:
    for flag in (True, False):
        sel = [i for i in idx if crops[i].numeric == flag]
        if not sel:
            continue
        readings = engine.recognize([crops[i].image for i in sel], numeric=flag)
        for i, r in zip(sel, readings, strict=True):
            out[i] = r


# A title is read by its first TITLE_SHORT_CHARS character widths (an agency
# of up to ten characters, then the year), and again by its first TITLE_CHARS
# if those do not hold the agency and year.
TITLE_SHORT_CHARS = 14
TITLE_CHARS = 22


def _read_title(layout: PageLayout, work: ScanWork, engine) -> None:
    """Read the page's first line, and the second only when the first does not
    yet hold the agency and the year (a title wrapped before its year)."""
    from tallyscan.postprocess.snap import title_match

    ch = work.metrics.char_h
    s = work.metrics.px_to_pt
    text = ""
    for line in sorted(layout.lines, key=lambda ln: ln.bbox[1])[:2]:
        x0, y0, x1, y1 = (v / s for v in line.bbox)
        m = 0.2 * ch
        Y0, Y1 = int(max(0, y0 - m)), int(y1 + m)
        X0 = int(max(0, x0 - m))
        # The agency and year come within the title's first ~22 characters,
        # most often within its first TITLE_SHORT_CHARS: those are read first.
        r = None
        for chars in (TITLE_SHORT_CHARS, TITLE_CHARS):
            end = min(x1, x0 + chars * max(y1 - y0, ch))
            crop = work.image[Y0:Y1, X0 : int(end + m)]
            if not crop.size:
                break
            r = engine.recognize([crop], numeric=False)[0]
            if title_match(text + r.text) or end >= x1:
                break
        if r is None:
            continue
        line.text, line.confidence = r.text, r.confidence
        text += r.text
        if title_match(text):
            break


def _parent_labels(table: Table, label_cols: set[int]) -> set[int]:
    """ids of label cells spanning rows whose every row has its own one-row label
    further right (三's 三、本年度办理结果, （三）不予公开): the snapper reads rows
    by their own labels, so these need no OCR."""
    own: dict[int, int] = {}  # row -> leftmost col of a one-row label cell
    for c in table.cells:
        if c.row_span == 1 and (c.col in label_cols or c.col_span > 1):
            own[c.row] = min(own.get(c.row, c.col), c.col) if c.row in own else c.col
    out = set()
    for c in table.cells:
        if c.row_span > 1 and c.col in label_cols:
            rows = range(c.row, c.row + c.row_span)
            if all(r in own and own[r] > c.col for r in rows):
                out.add(id(c))
    return out


# Label cells are read by their first line's first characters only: enough
# to tell the template's rows apart (section 二's labels share their first two
# characters: 行政处罚, 行政强制, 行政事业性收费; section 三's 1.属于… and
# （一）… differ by the third at the latest). Three and a half character
# heights: 2.5 was tried for section 三's wide tables (a few percent faster
# over the devset, same accuracy there) but lost cells on heavy synthetic
# scans, where a short, noisy reading gives the row alignment too little to
# go on. A heading across the table is told by its item number,
# 第二十条第（六）项; column headers by two characters (自然人, 商业企业;
# 结果维持 / 结果纠正 by position).
LABEL_CHARS = 3.5
HEADING_CHARS = 8.5
# A heading is read first without its first four and a half characters:
# 第二十条 is in every heading of the template, and what tells them apart is
# the item number after it, 第（一）项.
HEADING_SKIP_CHARS = 4.5
HEADER_CHARS = 2
# A table of at most this many columns is section 二's (label, up to three
# values, spare columns from a broken rule); 三 and 四 are wider.
SIGNED_TABLE_COLS = 6

_DIGITS = re.compile(r"^[-—−+]?\d[\d.,，]*$")
_LONG_DIGITS = re.compile(r"^[-—−+]?\d{2,}[\d.,，]*$")


def recognise_cells(
    layout: PageLayout, image: np.ndarray | None = None, *, dpi: float | None = None, engine,
    digit_ratio: float | None = None,
) -> float | None:
    """Fill every non-empty cell's reading, and the page's first title lines.
    Returns the page's digit height in character heights (see
    :func:`digit_height`), or ``digit_ratio``, an earlier page's, where this
    page has too few digits to tell (a page holding section 四 alone).

    Value cells are read whole over the numeric alphabet; label cells only by
    their first line's first few characters, which is all the snapper needs to
    tell the template's rows apart (and far cheaper than whole labels); a
    heading spanning most of the table by a few more (第二十条第（一）项). Parent
    labels spanning rows that all have their own labels are not read, nor are
    the headers of a table its numbers already show to be section 四's (the
    snapper places 四's values by position), nor the column headers above the
    values of a ruled table its row labels show to be section 三's (they are
    marked ``unread``, so they still count as words). A heading is read from
    its item number first, whole only if that does not read as one. A lone
    flat stroke is read as a dash by shape, a cell of specks and rule scraps
    as an unsure blank, and an empty cell is empty without any OCR. Crops that
    look alike are read once (:func:`recognise_crops`). A number read from ink
    off the page's digit height, or across its cell's side, is doubted (:func:`_doubt_odd_ink`).
    """
    from tallyscan.postprocess.snap import (
        SECTION_四_MAX_ROWS,
        classify_table,
        heading_item,
        is_section_四_by_shape,
    )

    work = page_work(layout)
    jobs: list[tuple[Cell, list[Crop]]] = []
    # Word cells read only if the table's other cells do not make them needless:
    # those of a table short enough to be section 四's (its values are placed
    # by position; in one wider than 二's, every cell above its last row, as
    # a header in small type need not look like words), and the column
    # headers above the values of a ruled table that its row labels show to
    # be section 三's (its value columns are the template's, in order).
    maybe_四: list[tuple[Table, list[tuple[Cell, list[Crop]]]]] = []
    maybe_三: list[tuple[Table, set[int], list[tuple[Cell, list[Crop]]]]] = []
    # Cells read by their first characters only whose ink is not plainly words,
    # and what their reading must look like for them to be read again whole.
    truncated: list[tuple[Cell, re.Pattern]] = []
    headings: list[Cell] = []
    for t in layout.tables:
        label_cols = _label_columns(t, work)
        parents = _parent_labels(t, label_cols)
        deferred: list[tuple[Cell, list[Crop]]] = []  # until the table's shape is known
        headers: list[tuple[Cell, list[Crop]]] = []
        for c in t.cells:
            if not work.cell_blobs.get(id(c)):
                c.reading = Reading.empty(
                    confidence=SCRAP_BLANK_CONFIDENCE if _traces_of_print(c, work) else 1.0)
                continue
            if id(c) in parents:
                c.reading = Reading.not_read()
                continue
            by_shape = dash_reading(c, work) or scrap_blank(c, work)
            if by_shape is not None:
                c.reading = by_shape
                continue
            # A cell spanning columns from the label area is a label or a heading;
            # one spanning value columns (本年处理决定数量's value) is a number.
            is_label = c.col in label_cols or (c.col_span > 1 and c.col <= min(label_cols, default=0))
            header = False
            if is_label:
                if 2 * c.col_span > t.n_cols:
                    # A heading across the table: its item number first (see HEADING_SKIP_CHARS).
                    parts = cell_crops(c, work, max_chars=HEADING_CHARS, skip_chars=HEADING_SKIP_CHARS)[:1]
                    headings.append(c)
                else:
                    parts = cell_crops(c, work, max_chars=LABEL_CHARS)[:1]
                if not _looks_like_words(c, work):
                    # A long number in a label column, perhaps; a label's own
                    # item number (1.属于…, worn to 1.) is not one. Section
                    # 二's narrow tables have no such labels: there any number
                    # is one (a value cell spanning the value columns, read
                    # as a label where headers fill its column: syn11032).
                    narrow = t.n_cols <= SIGNED_TABLE_COLS
                    truncated.append((c, _DIGITS if narrow else _LONG_DIGITS))
            elif _looks_like_words(c, work):
                # Column headers (自然人, 结果维持…): a few characters identify them.
                is_label = header = True
                parts = cell_crops(c, work, max_chars=HEADER_CHARS)[:1]
                truncated.append((c, _DIGITS))
            else:
                parts = cell_crops(c, work)
            c.reading = Reading.not_read()  # until read
            # A number no sum checks (in section 二's narrow tables) is read
            # itself: reuse can give it another glyph's sure reading (see GLYPH_MATCH).
            job = (c, _crops(parts, numeric=not is_label,
                             reuse=is_label or t.n_cols > SIGNED_TABLE_COLS))
            if t.n_rows <= SECTION_四_MAX_ROWS and (
                    is_label or (t.n_cols > SIGNED_TABLE_COLS and c.row + c.row_span < t.n_rows)):
                # (in a wide table, a value cell above its last row is one of
                # 四's headers when its last row shows the table is 四's)
                deferred.append(job)
            elif header and not t.unruled and t.n_cols > SIGNED_TABLE_COLS:
                headers.append(job)
            else:
                jobs.append(job)
        if deferred:
            maybe_四.append((t, deferred))
        if headers:
            maybe_三.append((t, label_cols, headers))
    if layout.page == 0:
        _read_title(layout, work, engine)
    _read_jobs(engine, jobs)
    # (before section 四's shape is judged on its numbers: a seal's stroke read as one counts)
    _read_past_seals(work, engine, jobs)
    later = [job for t, deferred in maybe_四 if not is_section_四_by_shape(t) for job in deferred]
    for t, label_cols, headers in maybe_三:
        if classify_table(t) == "三":
            # Only the headers above every value go unread: a run-together
            # number lower down (1234 as two square blobs) looks like words too.
            top = _first_value_row(t, label_cols)
            later += [job for job in headers if job[0].row >= top]
        else:
            later += headers
    _read_jobs(engine, later)
    _read_past_seals(work, engine, later)  # (the values among them: labels are not numeric)
    jobs += later
    # A heading whose item number did not read as one is read whole.
    _read_jobs(engine, [(c, _crops(cell_crops(c, work, max_chars=HEADING_CHARS)[:1], numeric=False))
                        for c in headings if not c.reading.unread and not heading_item(c.text)])
    # A long number whose digits run together (3086.22) looks like words, and
    # one in a column of labels (211586 beside 采购总金额) is read as a label: if
    # its first characters read as digits, it is read again whole, as a number.
    numbers = [(c, _crops(cell_crops(c, work), numeric=True))
               for c, pattern in truncated if pattern.match(c.reading.text)]
    if numbers:
        _read_jobs(engine, numbers)
        jobs += numbers
    _doubt_unread_sign(layout.tables, work, engine, jobs)
    dh = digit_height(layout.tables, work)
    if dh is None and digit_ratio is not None:
        dh = digit_ratio * work.metrics.char_h
    _doubt_odd_ink(work, jobs, dh)
    return dh / work.metrics.char_h if dh is not None else None


def _first_value_row(table: Table, label_cols: set[int]) -> int:
    """The first row with a number or a dash read outside the label columns."""
    from tallyscan.postprocess.snap import is_numberish

    rows = [c.row for c in table.cells if c.col not in label_cols and c.text and is_numberish(c.text)]
    return min(rows, default=table.n_rows)


def _crops(parts: list[tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]],
           numeric: bool, reuse: bool = True) -> list[Crop]:
    """:func:`cell_crops`' lines as crops to read."""
    return [Crop(img, ink, numeric, box, reuse) for img, ink, box in parts]


def _read_jobs(engine, jobs: list[tuple[Cell, list[Crop]]]) -> None:
    """Read each cell's crops (one per text line) and join them into its reading."""
    readings = recognise_crops(engine, [crop for _, crops in jobs for crop in crops])
    k = 0
    for target, crops in jobs:
        target.reading = merge_readings(readings[k : k + len(crops)])
        k += len(crops)


def _read_past_seals(work: ScanWork, engine, jobs: list[tuple[Cell, list[Crop]]]) -> None:
    """Numbers under a seal lighter than the print, read unsurely, are read
    again on the page less the seal (held-out syn13011, a grey seal: a 1
    crossed by its ring read as nothing, a dash under its text as 72). Only
    a sure reading of other text replaces the first: what is left of the
    seal's strokes (a rule's edge beside them) can read as an unsure 1, a
    blank left where the seal was may have been faint print, and the same
    text read more surely without the seal is no new evidence (syn17012: a
    dash and a rule's edge, "—1", at 0.80 and then 0.96). The doubts about
    odd ink still see the seal's strokes in the cell."""
    if not work.seal_cuts:
        return
    from tallyscan.postprocess.template_data import OK_CONFIDENCE

    todo = [(k, c, c.reading, _crops(cell_crops(c, work, unsealed=True), numeric=True, reuse=False))
            for k, (c, crops) in enumerate(jobs)
            if c.reading.confidence < OK_CONFIDENCE and crops and all(cr.numeric for cr in crops)
            and any(_in_seal(work, cr.bbox) for cr in crops)]
    if not todo:
        return
    _read_jobs(engine, [(c, again) for _, c, _, again in todo])
    for k, c, was, again in todo:
        if c.reading.text and c.reading.text != was.text and c.reading.confidence >= OK_CONFIDENCE:
            jobs[k] = (c, again)
        else:
            c.reading = was


def _doubt_unread_sign(tables: list[Table], work: ScanWork, engine,
                       jobs: list[tuple[Cell, list[Crop]]]) -> None:
    """A one-line number with ink just left of its crop (a minus sign the fax
    shrank to a dot or wore to a grey smudge, or a speck) is read again with
    that ink in view; if the
    two readings differ, neither is trusted: the cell's confidence drops
    below the bar, so a person decides rather than a guess passing as sure.
    Where the wider reading is the same digits after a minus sign, the
    reading is marked (``Reading.sign_mark``) for the snapper; where it is
    the same digits, the mark read past is noted (``Reading.mark_before``).

    Only in narrow tables (section 二's, at most SIGNED_TABLE_COLS columns):
    the only signed numbers of the template (本年增/减) are there, and no
    equation checks them; the wide tables of 三 and 四 hold counts only.
    """
    ch = work.metrics.char_h
    s = work.metrics.px_to_pt
    narrow = {id(c) for t in tables if t.n_cols <= SIGNED_TABLE_COLS for c in t.cells}
    faint: float | None = None  # how much darker than its paper faint print is, lazily
    again: list[tuple[Cell, np.ndarray]] = []
    for target, crops in jobs:
        if len(crops) != 1:
            continue
        first = crops[0]
        if (not first.numeric or id(target) not in narrow or not target.reading.text
                or target.reading.text[0] in "-—−"):
            continue
        if _mark_in_front(first.ink, ch):
            # The mark is in view already (see _reach_small_ink) and was read past.
            target.reading.confidence *= 0.5
            continue
        x0, y0, x1, y1 = first.bbox
        cx0 = int(target.bbox[0] / s + 0.1 * ch)
        inner, outer = int(x0 - 0.25 * ch), int(x0 - 0.7 * ch)
        h = y1 - y0
        ya, yb = int(y0 + 0.2 * h), int(np.ceil(y0 + 0.9 * h))
        xa = max(cx0, outer)
        if inner - xa < 1:
            continue
        if not work.binary[ya:yb, xa:inner].any():
            # A minus worn fainter than the binarisation keeps (syn09020: −3
            # read as a sure 3) is still a few pixels darker than the paper
            # around the number, by a tenth of the print's contrast.
            if faint is None:
                faint = max(6.0, FAINT_SHARE * print_contrast(work.image))
            paper = float(np.median(work.image[ya:yb, xa : int(x1)]))
            if np.count_nonzero(work.image[ya:yb, xa:inner] < paper - faint) < 3:
                continue
        Y0, Y1 = int(max(0, y0 - 0.15 * ch)), int(y1 + 0.15 * ch)
        again.append((target, work.image[Y0:Y1, xa : int(x1 + 0.25 * ch)]))
    if not again:
        return
    wide = engine.recognize([img for _, img in again], numeric=True)
    for (target, _), r in zip(again, wide, strict=True):
        text, seen = target.reading.text.strip(), r.text.strip()
        if seen != text:
            target.reading.confidence = min(target.reading.confidence, r.confidence) * 0.5
            # Read as a minus sign before the same digits: the snapper takes it
            # for one in a signed column (a mark in the crop's own view, above,
            # is as often a speck).
            target.reading.sign_mark = seen[:1] in "-—−" and seen[1:] == text
        else:
            target.reading.mark_before = True


def _mark_in_front(ink: np.ndarray, ch: float) -> bool:
    """Whether a number's ink starts with a small mark set apart from the
    rest, at the middle of its height: where a minus sign sits, here shrunk
    by a fax to a dot or a short dash (a speck there is doubted too)."""
    cols = np.flatnonzero(ink.any(axis=0))
    if len(cols) == 0:
        return False
    breaks = np.flatnonzero(np.diff(cols) > 1)
    if len(breaks) == 0:
        return False
    end = int(cols[breaks[0]]) + 1
    mark = np.flatnonzero(ink[:, cols[0] : end].any(axis=1))
    rest = np.flatnonzero(ink[:, end:].any(axis=1))
    if len(rest) == 0:
        return False
    top, height = rest[0], rest[-1] - rest[0] + 1
    middle = (mark[0] + mark[-1]) / 2 - top
    return bool(end - cols[0] <= 0.6 * ch and mark[-1] - mark[0] + 1 <= 0.35 * height
                and 0.25 * height <= middle <= 0.75 * height)


# A number read from ink whose tallest piece is off the page's digit height by
# more than this share is doubted: printed digits are all about as tall (a lone
# "1" 0.93-1.11 of the page's digits on the devset and a held-out set); a
# rule's scrap, a speck or a seal's fragment read as a digit is not (0.4-0.8,
# or 1.4-1.9 of them).
ODD_INK_LOW, ODD_INK_HIGH = 0.85, 1.3


def digit_height(tables: list[Table], work: ScanWork) -> float | None:
    """The page's printed digit height (pixels): the median tallest piece of
    the cells that hold one to four narrow, character-high pieces."""
    ch = work.metrics.char_h
    boxes = work.blobs.tolist()  # plain lists: this looks at every cell of the page
    tallest = []
    for t in tables:
        for c in t.cells:
            idx = work.cell_blobs.get(id(c), [])
            if not 0 < len(idx) <= 4:
                continue
            pieces = [boxes[i] for i in idx]
            top = max(y1 - y0 for _, y0, _, y1 in pieces)
            if 0.5 * ch <= top <= 1.1 * ch and all(x1 - x0 <= 0.85 * top for x0, _, x1, _ in pieces):
                tallest.append(top)
    return float(np.median(tallest)) if len(tallest) >= 5 else None


def _doubt_odd_ink(work: ScanWork, jobs: list[tuple[Cell, list[Crop]]], dh: float | None) -> None:
    """A number read from ink that may be no print is not trusted
    (:func:`_doubted`): the recogniser reads a broken rule's scrap, a speck
    or a seal's fragment as a sure digit ("1", "4"), so the sums or a person
    decide, and two such readings that happen to agree (a total and its one
    part) do not pin each other. Such ink is shorter or taller than the
    page's digits (``dh``, pixels, where known), or it reaches SPECK_BORDER
    character heights past its cell's left or right side: print keeps inside
    its cell, so that is a dotted rule the grid placed a little off (syn07012:
    a blank cell's dots read as a sure "1") or the grid cut through a number.
    An upright stroke alone in its crop hugging its cell's left or right side
    (within SPECK_BORDER) is doubted too: a dashed rule's piece the mask
    left, read as a sure "1" (syn10008, syn17007), where print sits clear of
    the rules. So is a
    number its crop left a glyph's piece out of (:func:`_ink_left_beside`).
    Each counts once."""
    s = work.metrics.px_to_pt
    out = SPECK_BORDER * work.metrics.char_h
    boxes = work.blobs.tolist()  # plain lists: this looks at every number of the page
    for target, crops in jobs:
        if len(crops) != 1 or not crops[0].numeric or not target.reading.text.strip():
            continue
        mine = [boxes[i] for i in work.cell_blobs.get(id(target), [])]
        read = mine  # the pieces the crop holds
        if crops[0].bbox is not None:
            x0, y0, x1, y1 = crops[0].bbox
            read = [b for b in mine if b[0] >= x0 - 1 and b[2] <= x1 + 1 and b[1] >= y0 - 1 and b[3] <= y1 + 1]
        if dh is not None and read and not ODD_INK_LOW * dh <= max(b[3] - b[1] for b in read) <= ODD_INK_HIGH * dh:
            target.reading = _doubted(target.reading)
        left, right = target.bbox[0] / s, target.bbox[2] / s
        across = mine and (min(b[0] for b in mine) < left - out or max(b[2] for b in mine) > right + out)
        # The stroke alone in the crop, whatever specks the cell holds besides
        # (syn17007: a border's piece read as a sure 1 beside two rule scraps).
        if (across or (len(read) == 1 and _side_stroke(read[0], left, right, work.metrics.char_h))
                or _ink_left_beside(target, work, mine, crops[0].bbox)):
            target.reading = _doubted(target.reading)


# A piece at least this many character heights long (bigger than a speck)
# beside a number's crop, within a stray run's gap of it, on its line give or
# take this much, is print the crop may have lost.
LEFT_OUT_SIZE = 0.3
LEFT_OUT_BAND = 0.2


def _ink_left_beside(cell: Cell, work: ScanWork, mine: list[list[float]],
                     bbox: tuple[float, float, float, float] | None) -> bool:
    """Whether the cell holds a piece of ink its number's crop left out, lying
    beside the crop on its line: a faded 2's flat base, grouped as a line of
    its own below the 5 of 2.5, was dropped as a rule's remnant and 2.5 read
    as a sure 5 (syn11032). Scraps at the cell's border do not count."""
    if bbox is None or len(mine) < 2:
        return False
    ch = work.metrics.char_h
    x0, y0, x1, y1 = bbox
    band0, band1 = y0 - LEFT_OUT_BAND * ch, y1 + LEFT_OUT_BAND * ch
    out = [i for i, (a, b, c, d) in enumerate(mine)
           if not (a >= x0 - 1 and c <= x1 + 1 and b >= y0 - 1 and d <= y1 + 1)
           and max(c - a, d - b) >= LEFT_OUT_SIZE * ch
           and b < band1 and d > band0
           and a < x1 + 0.6 * ch and c > x0 - 0.6 * ch]
    if not out:
        return False
    scrap = _scraps(cell, work, np.asarray(mine, dtype=np.float64))
    return any(not scrap[i] for i in out)


def _side_stroke(box: list[float], left: float, right: float, ch: float) -> bool:
    """Whether a piece is an upright stroke narrower than SCRAP_WIDTH lying
    within SPECK_BORDER character heights of the side ``left`` or ``right``."""
    x0, y0, x1, y1 = box
    near = SPECK_BORDER * ch
    return (x1 - x0 < SCRAP_WIDTH * ch and y1 - y0 > x1 - x0
            and (x0 <= left + near or x1 >= right - near))


def _doubted(r: Reading) -> Reading:
    """A reading of ink that may be no print: half as sure, and a one-character
    reading may be a blank, as likely as not."""
    alts = r.alternatives
    if len(r.text) == 1 and len(alts) == 1:
        alts = [[(c, p) for c, p in alts[0] if c != ""] + [("", 0.5)]]
    return replace(r, confidence=r.confidence * 0.5, alternatives=alts)


def merge_readings(parts: list[Reading]) -> Reading:
    """Join the readings of a cell's lines into one. Lines all read as nothing
    keep the recogniser's doubt (its least sure line): ink it saw no number in
    may be a faded one (held-out syn17025: a 1 read as a sure blank)."""
    read = [p for p in parts if p.text]
    if not read:
        return Reading.empty(confidence=min((p.confidence for p in parts), default=1.0))
    parts = read
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


# --------------------------------------------------------------------------- #
# Cells the rules do not separate: split them where the values line up


def word_height(boxes: np.ndarray, char_h: float) -> float:
    """Height of a CJK character on the page (digits are about 3/4 of it): the
    80th percentile of character-sized blobs' heights."""
    h = boxes[:, 3] - boxes[:, 1] if len(boxes) else np.zeros(0)
    h = h[(h >= 0.5 * char_h) & (h <= 2.0 * char_h)]
    return float(np.percentile(h, 80)) if len(h) >= 10 else char_h


def _line_runs(boxes: np.ndarray, char_h: float) -> list[list[np.ndarray]]:
    """Text lines as runs of blobs (each an array of boxes) cut at gaps wider
    than 0.6 character heights."""
    out = []
    for line in group_lines(boxes, char_h):
        b = boxes[line]
        lefts, rights = b[:, 0].tolist(), b[:, 2].tolist()
        runs = []
        start = 0
        reach = rights[0] if rights else 0.0  # right edge of the run so far
        for k in range(1, len(b) + 1):
            if k < len(b) and lefts[k] - reach <= 0.6 * char_h:
                reach = max(reach, rights[k])
                continue
            if k < len(b):
                reach = rights[k]
            runs.append(b[start:k])
            start = k
        out.append(runs)
    return out


def _classify_runs(lines: list[list[np.ndarray]], char_h: float, word_h: float | None = None
                   ) -> list[list[tuple[np.ndarray, bool]]]:
    """Each run of :func:`_line_runs` as its box and whether it looks like a
    number rather than words: its pieces are digits (upright, narrower than
    tall) or dashes (flat), or, given the height ``word_h`` of a CJK
    character, digits run together (on a fax-like page: as tall as a digit,
    shorter than a character)."""
    out = []
    for line in lines:
        runs = []
        for run in line:
            w, h = run[:, 2] - run[:, 0], run[:, 3] - run[:, 1]
            digit = (w <= 0.85 * np.maximum(h, 0.8 * char_h)) & (h <= 1.3 * char_h)
            dash = (h <= 0.35 * char_h) & (w <= 2.5 * char_h)
            if word_h is None:
                numeric = bool((digit | dash).all())
            else:
                merged = (h <= 0.85 * word_h) & (h >= 0.45 * word_h)
                numeric = bool((digit | merged | dash).all()) and h.max() <= 0.9 * word_h
            numeric = numeric and run[:, 2].max() - run[:, 0].min() <= 8 * char_h
            box = np.array([run[:, 0].min(), run[:, 1].min(), run[:, 2].max(), run[:, 3].max()])
            runs.append((box, numeric))
        out.append(runs)
    return out


def _line_tokens(
    boxes: np.ndarray, char_h: float, word_h: float | None = None
) -> list[list[tuple[np.ndarray, bool]]]:
    """Text lines as runs of blobs, each with whether it looks like a number
    (:func:`_line_runs`, :func:`_classify_runs`)."""
    return _classify_runs(_line_runs(boxes, char_h), char_h, word_h)


def _words_and_values(line: list[tuple[np.ndarray, bool]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A line's word runs, and its values: number-like runs right of its last word."""
    words = [b for b, num in line if not num]
    right = max((b[2] for b in words), default=-np.inf)
    return words, [b for b, num in line if num and b[0] > right]


def text_splits(table: Table, boxes: np.ndarray, char_h: float, s: float, word_h: float | None = None):
    """Where a table's cells must be cut because the values inside them sit in
    separate columns or lines (the rules between them were erased or too broken
    to find).

    Values are number-like runs right of the last word on their line; they are
    clustered into columns by their centres (a column holds at least 3). A cell
    that holds values of two columns is cut midway between the columns; one
    that holds two value lines is cut just above the lower line, through the
    labels beside it that do not reach past it (values sit on their label's
    first line); one that holds its row's label and, clear of it, a value of
    such a column is cut just left of the value. ``word_h``: the page's CJK
    character height (:func:`word_height` of ``boxes`` when not given).
    Returns (v_splits, h_splits) for :func:`grid.split_cells`.
    """
    from tallyscan.layout.grid import CellIndex

    x0, y0, x1, y1 = (v / s for v in table.bbox)
    if len(boxes) == 0:
        return [], []
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    sub = boxes[(cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)]
    if len(sub) < 6:
        return [], []
    row_edges = np.array(table.row_edges) / s

    def rule_scrap(b: np.ndarray, num: bool) -> bool:
        # A flat piece on a row's rule (where a corner survived the rule mask)
        # is the rule's, not a dash: a dash sits mid-cell, clear of the rules.
        return num and b[3] - b[1] <= 0.35 * char_h and bool(
            (np.abs(row_edges - (b[1] + b[3]) / 2) <= 0.3 * char_h).any())

    def tokens_of(lines_in):
        """The lines less rule scraps; their values and labels (:func:`_words_and_values`)."""
        lines_out = [[(b, num) for b, num in line if not rule_scrap(b, num)] for line in lines_in]
        lines_out = [line for line in lines_out if line]
        vals, labs = [], []
        for line in lines_out:
            words, line_values = _words_and_values(line)
            labs.extend(words)
            vals.extend(line_values)
        return lines_out, vals, labs

    line_runs = _line_runs(sub, char_h)
    plain = _classify_runs(line_runs, char_h)
    lines, values, labels = tokens_of(plain)
    index = CellIndex([table])

    def cell_at(x: float, y: float) -> int | None:
        hit = index.find(x * s, y * s)
        return None if hit is None else hit[1]

    # Three or more values side by side in one cell of no words, on one line
    # (a one-row table such as section 四, whose columns no cluster of 3 can
    # show) are cut apart too. There a run narrower than a character is a
    # value (a digit smudged by a speck), and a run across one of the table's
    # column edges is a piece of that rule.
    edges = np.array(table.col_edges) / s
    pair_splits = []
    for line in lines:
        by_cell, worded = _runs_by_cell(line, cell_at, lambda b, num: not num and b[2] - b[0] >= 0.9 * char_h)
        for c, runs in by_cell.items():
            runs = [b for b in runs if not _on_edge(b, edges, char_h)]
            if len(runs) < 3 or c in worded:
                continue
            # Values in columns are evenly spaced (a broken label is not), and
            # apart by more than a character.
            r = np.array(runs)
            step = np.diff((r[:, 0] + r[:, 2]) / 2)
            if (r[1:, 0] - r[:-1, 2]).min() < char_h or step.max() > 1.35 * step.min():
                continue
            # The lost rule ran the cell's full height.
            _, lo, _, hi = table.cells[c].bbox
            for a, b in zip(runs, runs[1:], strict=False):
                y = (a[1] + a[3] + b[1] + b[3]) / 4
                pair_splits.append((float(a[2]), float(b[0]), float(y), lo / s, hi / s))
    v_splits, h_splits = _column_splits(table, values, labels, char_h, s, cell_at)
    # Digits a fax ran together (9195 as one blob) look like words unless told
    # apart by the page's character height. As values they show the value
    # lines a lost row rule merged (only lines that show plain digits too: a
    # header's two-line words in a smaller type pass that test alone; and
    # only rows of values, not a wrapped number's tail). Not columns: a
    # heading's brackets and characters would cut it.
    if word_h is None:
        word_h = word_height(boxes, char_h)
    fax = _classify_runs(line_runs, char_h, word_h)
    # (Runs that look like numbers either way, for cutting values apart below.)
    numbers = {tuple(b.tolist()) for line in (*plain, *fax) for b, num in line if num}
    fax = [f if any(num for _, num in p) else p for p, f in zip(plain, fax, strict=True)]
    _, fax_values, fax_labels = tokens_of(fax)
    for y, lo, hi in _column_splits(table, fax_values, fax_labels, char_h, s, cell_at, full_lines=True)[1]:
        if all(abs(y - other) > 0.5 * char_h * s for other, _, _ in h_splits):
            h_splits.append((y, lo, hi))
    v_splits += _label_value_splits(table, lines, edges, char_h, word_h, s, cell_at)
    v_splits += _lost_label_rule_splits(table, lines, char_h, s, cell_at)
    v_splits += _spanned_edge_splits(table, lines, edges, char_h, word_h, s, cell_at, numbers)
    for xa, xb, y, lo, hi in pair_splits:
        if not any(xa * s < x < xb * s and y0 <= y * s <= y1 for x, y0, y1 in v_splits):
            v_splits.append(((xa + xb) / 2 * s, lo * s, hi * s))
    return v_splits, h_splits


def _on_edge(b: np.ndarray, edges, char_h: float) -> bool:
    """Whether a run lies across one of the column ``edges`` (or within a
    fifth of a character height of it): a scrap of that rule, or a number
    across it, not a value inside one column."""
    return bool((np.abs(np.asarray(edges) - (b[0] + b[2]) / 2) <= (b[2] - b[0]) / 2 + 0.2 * char_h).any())


def _runs_by_cell(line, cell_at, is_word) -> tuple[dict[int, list[np.ndarray]], set[int]]:
    """A line's runs by the cell holding their middle: the other runs of each
    cell, and the cells holding a word (``is_word(box, numeric)``)."""
    by_cell: dict[int, list[np.ndarray]] = {}
    worded: set[int] = set()
    for b, num in line:
        c = cell_at((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
        if c is None:
            continue
        if is_word(b, num):
            worded.add(c)
        else:
            by_cell.setdefault(c, []).append(b)
    return by_cell, worded


def _label_value_splits(table: Table, lines, edges: np.ndarray, char_h: float, word_h: float,
                        s: float, cell_at):
    """Cuts for a column rule lost in one row only: a cell holding a label and,
    past one of the table's column edges, a value (the label column's rule
    gone under that row) is cut at the edges between them, so the value is
    not read as part of the label and the row's values keep their columns.
    A run on one of those edges is a scrap of the lost rule, not a value; the
    label is the cell's own words, one of them as tall as a CJK character
    (``word_h``): digits run together, or a value further along the row
    blurred into a word's shape, are no label, and the label ends where its
    tall words do (in a cell of one text line; in a cell of more, a heading
    run into the header row under it, where all its words do).

    Past the label, a cell of one text line is cut again at each of the
    table's edges with a value on either side and nothing across it
    (:func:`_values_apart`; a row whose every rule was dotted and lost:
    政府集中采购 | 0 | 156.5, held-out syn11020). There a value is a
    number-like run, or digits run together (no taller than 0.85 of a CJK
    character), at least half a character tall.
    """
    out = []
    # How many text lines each cell holds: a cell of one line is a row of its
    # own; in one of more (a heading run into the header row under it) the
    # label's words are all the cell's words.
    line_count = Counter(c for line in lines for c in {
        cell_at((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, _ in line})
    for line in lines:
        words = [b for b, num in line if not num]
        if not words:
            continue
        word_cells = [cell_at((w[0] + w[2]) / 2, (w[1] + w[3]) / 2) for w in words]
        done: set[int] = set()
        for b, num in line:
            if not num:
                continue
            if _on_edge(b, edges, char_h):
                continue
            c = cell_at((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
            if c is None or c in done or table.cells[c].col_span == 1:
                continue
            mine = [w for w, wc in zip(words, word_cells, strict=True) if wc == c]
            label = [w for w in mine if w[3] - w[1] > 0.9 * word_h]
            if not label:
                continue
            one_line = line_count[c] == 1
            right = max(w[2] for w in (label if one_line else mine))
            if b[0] <= right:
                continue
            done.add(c)
            cell = table.cells[c]
            inner = edges[cell.col + 1 : cell.col + cell.col_span]
            _, y0, _, y1 = cell.bbox
            cuts = [float(e) for e in inner if right < e < b[0]]
            past = [(v, vnum) for v, vnum in line
                    if v[0] > right and cell_at((v[0] + v[2]) / 2, (v[1] + v[3]) / 2) == c]
            values = {id(v) for v, vnum in past if v[3] - v[1] >= 0.5 * char_h
                      and (vnum or v[3] - v[1] <= 0.85 * word_h)}
            runs = [v for v, _ in past]
            is_value = lambda v, values=values: id(v) in values  # noqa: E731
            cuts += [float(e) for e in inner
                     if one_line and e > b[0] and _values_apart(runs, e, char_h, is_value, is_value)]
            out += [(e * s, y0, y1) for e in cuts]
    return out


def _spanned_edge_splits(table: Table, lines, edges: np.ndarray, char_h: float, word_h: float,
                         s: float, cell_at, numbers: set[tuple[float, ...]] = frozenset()):
    """Cuts for a column rule lost in one cell of values: a cell of no words
    (nothing as tall as a CJK character, ``word_h``) spanning columns the
    table has, with a value each side of one of their edges and nothing
    across it (36 and 0 read together as 360), is cut at that edge. A value
    is a run at least half a character tall (digits, however run together)
    or one centred in its column (a dash); a speck is neither. The value
    after the edge may lie further on (:func:`_values_apart`: held-out
    syn11018's 2 | 2.21), if it looks like a number, plain or run together
    (``numbers``, the runs :func:`_classify_runs` calls numbers with or
    without the page's CJK character height; faint words no taller than
    digits are no values: syn15020's header row); the ink before it may be a
    faint label (syn06036: 政府集中采购 | 379 | 2496)."""
    out = []
    for line in lines:
        by_cell, worded = _runs_by_cell(line, cell_at, lambda b, _: b[3] - b[1] > 0.9 * word_h)
        for c, runs in by_cell.items():
            cell = table.cells[c]
            if c in worded or cell.col_span < 2 or len(runs) < 2:
                continue

            def value_in(lo: float, hi: float, runs=runs) -> bool:
                middle = (lo + hi) / 2
                return any(b[0] >= lo and b[2] <= hi and (
                    b[3] - b[1] >= 0.5 * char_h or abs((b[0] + b[2]) / 2 - middle) <= 0.3 * char_h)
                    for b in runs)

            _, y0, _, y1 = cell.bbox
            span = edges[cell.col : cell.col + cell.col_span + 1]
            for k in range(1, len(span) - 1):
                e = span[k]
                if (not any(_on_edge(b, e, char_h) for b in runs)
                        and value_in(span[k - 1], e) and value_in(e, span[k + 1])) or _values_apart(
                        runs, e, char_h, lambda b: b[3] - b[1] >= 0.5 * char_h,
                        lambda b: tuple(b.tolist()) in numbers and b[3] - b[1] >= 0.5 * char_h):
                    out.append((float(e) * s, y0, y1))
    return out


def _values_apart(runs, e: float, char_h: float, is_before, is_value) -> bool:
    """Whether a column edge ``e`` lies between two values of a row's runs:
    none across it, the ink just before it a value (``is_before(run)``; a
    minus sign is the number's after it) and a value after it (``is_value``; not
    necessarily in the next column: 2.21 centred under a header spanning two
    of the table's columns lies across the edge between them), at least a
    character height clear of each other. A run narrower than a third of a
    character on the edge is a scrap of the lost rule (held-out syn11018),
    not ink across it."""
    runs = [b for b in runs if not (b[2] - b[0] <= 0.35 * char_h and _on_edge(b, e, char_h))]
    before = [b for b in runs if b[2] <= e]
    after = [b for b in runs if b[0] >= e]
    if not before or not after or any(b[0] < e < b[2] for b in runs):
        return False
    last = max(before, key=lambda b: b[2])
    # Digits of one number lie closer than a character height (the two 1s
    # of 11 in a wide type: held-out syn13003).
    return (is_before(last) and min(b[0] for b in after) - last[2] >= char_h
            and any(is_value(b) for b in after))


def _lost_label_rule_splits(table: Table, lines, char_h: float, s: float, cell_at):
    """Cuts for the rule between the labels and the first value column lost
    down the whole table (a faint dashed rule): a column of values (at least
    3, by their centres) each in one cell with its row's label, clear of the
    labels' right ends, is cut from the labels just left of the values."""
    pairs = []  # (value box, words' right end, cell index)
    for line in lines:
        words = [b for b, num in line if not num]
        if not words:
            continue
        for b, num in line:
            if not num:
                continue
            c = cell_at((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
            mine = [w for w in words if w[2] < b[0] and cell_at((w[0] + w[2]) / 2, (w[1] + w[3]) / 2) == c]
            if c is not None and mine:
                pairs.append((b, max(w[2] for w in mine), c))
    if len(pairs) < 3:
        return []
    vals = np.array([b for b, _, _ in pairs])
    out = []
    for cluster in _columns_by_centre((vals[:, 0] + vals[:, 2]) / 2, 0.8 * char_h):
        if len(cluster) < 3:
            continue
        right = max(pairs[i][1] for i in cluster)
        left = min(float(vals[i, 0]) for i in cluster)
        if left - right < char_h:
            continue
        # Close to the values: a scrap of the lost rule between them and the
        # labels (read as a 1) stays with the labels.
        x = max((right + left) / 2, left - 0.6 * char_h) * s
        for c in {pairs[i][2] for i in cluster}:
            _, y0, _, y1 = table.cells[c].bbox
            out.append((x, y0, y1))
    return out


# A column is as wide as the table's pitch when within this share of it (or
# of several pitches, for columns whose rules between them were lost).
PITCH_TOLERANCE = 0.1
# A seal's ring spans up to five of section 四's columns (syn13020: five).
PITCH_MAX_COLUMNS = 5


def pitch_splits(table: Table) -> list[tuple[float, float, float]]:
    """Cuts for the rules a seal or a fold erased between section 四's columns.

    Section 四 is one short block of fifteen value columns of one width, and
    no other table of the template is that wide (三 has at most ten columns).
    So in a ruled table of at most SECTION_四_MAX_ROWS rows and more than ten
    columns, most of them of one pitch, a column two to PITCH_MAX_COLUMNS pitches wide is
    that many columns: each of its own cells (not the headers spanning it) is
    cut at the pitch, as long as the table then has no more than fifteen
    columns. When that makes fifteen, its last row is the data row, one value
    per column: a cell there spanning several (the rules between them lost
    under the same seal, whose remnants also hide the values' spacing from
    :func:`text_splits`) is cut at every column edge too. (A grid of fifteen
    columns as found is left as it is: a data cell spanning two there is one
    the snapper leaves for the totals to infer.) Splits are in points, for
    :func:`grid.split_cells`.
    """
    from tallyscan.postprocess.snap import (
        SECTION_四_MAX_ROWS,
        SECTION_四_SLIVER,
        section_四_columns,
    )

    n_四 = len(section_四_columns())
    if table.unruled or table.n_rows > SECTION_四_MAX_ROWS or not 10 < table.n_cols < n_四:
        return []
    edges = np.asarray(table.col_edges, dtype=float)
    widths = np.diff(edges)
    pitch = float(np.median(widths))
    if 2 * int((np.abs(widths - pitch) <= PITCH_TOLERANCE * pitch).sum()) < len(widths):
        return []
    wide = {}
    for c, w in enumerate(widths):
        k = int(round(w / pitch))
        if 2 <= k <= PITCH_MAX_COLUMNS and abs(w - k * pitch) <= PITCH_TOLERANCE * k * pitch:
            wide[c] = k
    # (A sliver, a doubled rule's, holds no column: the snapper drops it.)
    slivers = int((widths < SECTION_四_SLIVER * pitch).sum())
    n_after = table.n_cols - slivers + sum(k - 1 for k in wide.values())
    if not wide or n_after > n_四:
        return []

    def cuts(c: int) -> list[float]:
        k = wide.get(c, 1)
        return [edges[c] + j * widths[c] / k for j in range(1, k)]

    out = []
    whole = n_after == n_四
    for cell in table.cells:
        x0, y0, x1, y1 = cell.bbox
        if cell.col_span == 1:
            out += [(x, y0, y1) for x in cuts(cell.col)]
        elif whole and cell.row + cell.row_span == table.n_rows and cell.col_span < table.n_cols:
            span = range(cell.col, cell.col + cell.col_span)
            out += [(float(x), y0, y1) for c in span for x in cuts(c)]
            out += [(float(edges[c]), y0, y1) for c in span[1:]]
    return out


# A found column edge lies on section 四's fifteen-column lattice when within
# this share of the pitch of a lattice point; at least this many inner edges
# must, each on its own point (by chance, 0.5 ** 7 < 1%).
LATTICE_TOLERANCE = 0.25
LATTICE_MIN_EDGES = 7


def lattice_splits(table: Table, boxes: np.ndarray, char_h: float, s: float,
                   rings: Sequence[tuple[float, float, float, float]] = ()
                   ) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """Cuts for the rules lost between section 四's values where too many went
    for :func:`pitch_splits` (dotted rules that did not print, six columns in
    one: held-out syn12033, syn14034).

    Section 四's fifteen columns share the table's width evenly. A short ruled
    table of fewer columns whose found edges, LATTICE_MIN_EDGES or more, each
    fall on their own point of the fifteen-column lattice across it, is that
    block, and its last row the values. A cell reaching that row is cut from
    the header above it (the rule between them lost) and, where it spans
    several lattice columns, at the points between them, placed evenly
    between the cell's own rules (a warped sheet bends the lattice, not the
    rules). Unless the last row holds words (two character-sized square
    blobs in one cell, outside the seals' ``rings``: a label, so not 四's
    values). Returns (v_splits, h_splits) in points, for
    :func:`grid.split_cells`; ``boxes`` are the page's text blobs in pixels
    (``s`` points per pixel), ``rings`` as :func:`seal_rings` gives them.
    """
    from tallyscan.postprocess.snap import SECTION_四_MAX_ROWS, section_四_columns

    n_四 = len(section_四_columns())
    if table.unruled or table.n_rows > SECTION_四_MAX_ROWS or not LATTICE_MIN_EDGES < table.n_cols < n_四:
        return [], []
    edges = np.asarray(table.col_edges, dtype=float)
    at = (edges - edges[0]) / ((edges[-1] - edges[0]) / n_四)
    points = np.rint(at).astype(int)
    if np.abs(at - points).max() > LATTICE_TOLERANCE or len(set(points.tolist())) < len(points):
        return [], []
    top, bottom = table.row_edges[-2], table.row_edges[-1]
    reaching = [c for c in table.cells if c.row + c.row_span == table.n_rows]
    if len(boxes):
        square = boxes[character_sized(boxes, char_h)]
        cx, cy = (square[:, 0] + square[:, 2]) / 2, (square[:, 1] + square[:, 3]) / 2
        for x, y, radius, half in rings:  # a seal's own characters are no label
            outside = (cx - x) ** 2 + (cy - y) ** 2 > (radius + half) ** 2
            cx, cy = cx[outside], cy[outside]
        cx, cy = cx * s, cy * s
        for c in reaching:
            x0, _, x1, _ = c.bbox
            if int(((cx > x0) & (cx < x1) & (cy > top) & (cy < bottom)).sum()) >= 2:
                return [], []
    v_splits, h_splits = [], []
    for c in reaching:
        a, b = points[c.col], points[c.col + c.col_span]
        x0, _, x1, _ = c.bbox
        v_splits += [(float(x0 + (x1 - x0) * j / (b - a)), top, bottom) for j in range(1, b - a)]
        if c.row_span > 1:
            h_splits.append((top, x0, x1))
    return v_splits, h_splits


def _column_splits(table: Table, values: list[np.ndarray], labels: list[np.ndarray],
                   char_h: float, s: float, cell_at, full_lines: bool = False):
    """The splits of :func:`text_splits` that come from value columns (at
    least 3 values each) and value lines (``full_lines``: only a lower line
    with values in at least 3 columns and half as many as the line above)."""
    if len(values) < 3:
        return [], []
    vals = np.array(values)
    vcx = (vals[:, 0] + vals[:, 2]) / 2
    clusters = _columns_by_centre(vcx, 0.8 * char_h)
    clusters = [c for c in clusters if len(c) >= 3]
    if not clusters:
        return [], []
    col_of = {i: k for k, c in enumerate(clusters) for i in c}
    v_splits = []
    for k in range(len(clusters) - 1):
        a, b = vals[clusters[k]], vals[clusters[k + 1]]
        xa = float(np.median((a[:, 0] + a[:, 2]) / 2))
        xb = float(np.median((b[:, 0] + b[:, 2]) / 2))
        ys = np.concatenate([(a[:, 1] + a[:, 3]) / 2, (b[:, 1] + b[:, 3]) / 2])
        joined = sum(
            1 for y in ys
            if cell_at(xa, y) is not None and cell_at(xa, y) == cell_at(xb, y)
        )
        if joined >= 2:
            x = (a[:, 2].max() + b[:, 0].min()) / 2
            lo = min(a[:, 1].min(), b[:, 1].min()) - 0.6 * char_h
            hi = max(a[:, 3].max(), b[:, 3].max()) + 0.6 * char_h
            v_splits.append((float(x) * s, float(lo) * s, float(hi) * s))
    # Value lines, top to bottom, and the columns' centres.
    in_cols = [i for i in range(len(vals)) if i in col_of]
    centres = [float(np.median((vals[c, 0] + vals[c, 2]) / 2)) for c in clusters]
    vlines = []
    for line in group_lines(vals[in_cols], char_h):
        b = vals[[in_cols[j] for j in line]]
        # A line of dashes only counts where they sit centred in their columns:
        # the pieces of a broken rule are flat too, but lie anywhere.
        tall = (b[:, 3] - b[:, 1]) >= 0.5 * char_h
        off = np.array([abs((x0 + x1) / 2 - centres[col_of[in_cols[j]]]) for j, (x0, _, x1, _)
                        in zip(line, b, strict=True)])
        if tall.any() or int((off <= 0.3 * char_h).sum()) >= 2:
            vlines.append(b)
    lab = np.array(labels) if labels else np.zeros((0, 4))
    h_splits = []
    for upper, lower in zip(vlines, vlines[1:], strict=False):
        ya = float(np.median((upper[:, 1] + upper[:, 3]) / 2))
        yb = float(np.median((lower[:, 1] + lower[:, 3]) / 2))
        merged = [x for x in centres if cell_at(x, ya) is not None and cell_at(x, ya) == cell_at(x, yb)]
        if not merged:
            continue
        if full_lines and len(lower) < max(3, len(upper) / 2):
            continue  # the tail of a number wrapped in its cell (102 over 8), not a row
        top = float(lower[:, 1].min())
        # Just above the lower line: below the last ink that ends above it.
        above = np.concatenate([upper[:, 3], lab[(lab[:, 3] <= top + 0.2 * char_h) & (lab[:, 3] > upper[:, 1].min()), 3]])
        y = (max(float(above.max()), float(upper[:, 3].max())) + top) / 2
        # Cut the cells crossing y that lie within the merged value cell's rows,
        # from the right edge leftwards.
        band = table.cells[cell_at(merged[0], ya)]
        r0, r1 = band.row, band.row + band.row_span
        crossing = sorted((c for c in table.cells if c.bbox[1] < y * s < c.bbox[3]),
                          key=lambda c: -c.bbox[0])
        lo = None
        for c in crossing:
            if c.row < r0 or c.row + c.row_span > r1:
                break
            lo = c.bbox[0]
        if lo is not None:
            h_splits.append((float(y) * s, float(lo), float(table.bbox[2])))
    return v_splits, h_splits



# --------------------------------------------------------------------------- #
# Tables without rules: rows from text lines, columns from the values


def aligned_tables(
    boxes: np.ndarray, char_h: float, s: float, page: int, word_h: float | None = None
) -> list[tuple[Table, np.ndarray]]:
    """Tables found from text alignment alone, for a page (or the part of one)
    whose rules are gone (a fax-like scan).

    Lines holding at least two values (number-like runs right of the line's
    words, see :func:`text_splits`) make a table region; regions are apart
    where the gap between such lines exceeds four line pitches or a line of
    larger type (a section heading) comes between them. In a region
    the values' centres cluster into columns (each holding values of at least
    a third of the region's value lines, and at least one); every text line of
    the region from its first value line down to its last is a row (a label's
    second line is a row of empty values, which the snapper passes over), and
    up to four lines of words just above it (column headers, which tell the
    section) are rows too. Left of the first value column is one label column.
    Boxes, ``word_h`` and the result are as in :func:`text_splits`: pixels in,
    points out; each table comes with the (n, 3) x, y centres (points) and line
    numbers of the values it was built from.
    """
    if len(boxes) < 6:
        return []
    info = _aligned_lines(boxes, char_h, word_height(boxes, char_h) if word_h is None else word_h)
    if info is None:
        return []
    value_lines = [i for i, line in enumerate(info) if len(line.values) >= 2]
    if not value_lines:
        return []
    centres = [(info[i].top + info[i].bottom) / 2 for i in value_lines]
    pitch = float(np.median(np.diff(centres))) if len(centres) > 1 else 2.0 * char_h
    pitch = max(pitch, 1.2 * char_h)
    regions: list[list[int]] = [[value_lines[0]]]
    for a, b in zip(value_lines, value_lines[1:], strict=False):
        gap = (info[b].top + info[b].bottom) / 2 - (info[a].top + info[a].bottom) / 2
        # Apart when far apart, or with a heading (larger type) between them.
        if gap > 4 * pitch or any(info[k].tall for k in range(a + 1, b)):
            regions.append([])
        regions[-1].append(b)
    tables = []
    for reg in regions:
        t = _section_四_row(info, reg, char_h, s, page) or _text_table(info, reg, char_h, s, page)
        if t is not None:
            points = np.array(
                [((v[0] + v[2]) / 2 * s, (v[1] + v[3]) / 2 * s, i) for i in reg for v in info[i].values],
                dtype=float).reshape(-1, 3)
            tables.append((t, points))
    return tables


# A label and its values set at least this many character heights apart make a
# row without rules (body text runs on; a number in a sentence sits close).
CARRIED_VALUE_GAP = 3.0
# At most this many such rows, of at most this many values each: the last
# block or two of a table, not a page of text.
CARRIED_MAX_ROWS = 3
CARRIED_MAX_VALUES = 4


def carried_over_block(boxes: np.ndarray, char_h: float, s: float, page: int,
                       tables: list[Table], word_h: float | None = None) -> Table | None:
    """The end of a table carried over to the top of this page with its rules
    lost (doc013: section 二's block (八), 信息内容 over 行政事业性收费 | 0,
    printed above section 三's table): on a page after the first, lines above
    the page's first table that each hold words and, set CARRIED_VALUE_GAP
    apart from them, as many values as each other, with the header lines just
    above them. An unruled table (its cells never vouched for), marked
    ``carried_over``: the snapper keeps it only where its words read as
    section 二's. Boxes in pixels, the table in points; ``word_h`` as in
    :func:`text_splits`."""
    if page == 0 or not tables or len(boxes) == 0:
        return None
    top = min(t.bbox[1] for t in tables) / s
    above = boxes[boxes[:, 3] < top]
    if len(above) < 6:
        return None
    info = _aligned_lines(above, char_h, word_height(boxes, char_h) if word_h is None else word_h)
    if info is None:
        return None
    rows = [i for i, ln in enumerate(info)
            if ln.words and not ln.tall and 1 <= len(ln.values) <= CARRIED_MAX_VALUES
            and ln.values[0][0] - max(w[2] for w in ln.words) >= CARRIED_VALUE_GAP * char_h]
    if not rows or len(rows) > CARRIED_MAX_ROWS or rows != list(range(rows[0], rows[-1] + 1)):
        return None
    n = len(info[rows[0]].values)
    if any(len(info[i].values) != n for i in rows):
        return None
    lines = _header_rows(info, rows, char_h)
    label_right = max(w[2] for i in rows for w in info[i].words)
    centres = [float(np.median([(info[i].values[k][0] + info[i].values[k][2]) / 2 for i in rows]))
               for k in range(n)]
    first_left = min(info[i].values[0][0] for i in rows)
    edges = [min(info[i].left for i in lines) - 0.3 * char_h, (label_right + first_left) / 2]
    edges += [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)]
    edges.append(max(info[i].right for i in lines) + 0.3 * char_h)
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        return None
    t = _lines_table(info, lines, edges, char_h, s, page)
    if t is not None:
        t.carried_over = True
    return t


class _AlignedLine(NamedTuple):
    """A text line of :func:`aligned_tables`, in pixels: its extent, its values
    (number-like runs right of its words), its words, and whether it holds
    type larger than the page's (a heading)."""

    top: float
    bottom: float
    values: list[np.ndarray]
    words: list[np.ndarray]
    tall: bool
    left: float
    right: float


def _aligned_lines(boxes: np.ndarray, char_h: float, word_h: float) -> list[_AlignedLine] | None:
    """The text lines of ``boxes`` (pixels) top to bottom, each with its words
    and its values (see :func:`aligned_tables`); None for too little text.
    ``word_h``: the page's CJK character height (:func:`word_height`)."""
    # Remnants of rules too faint for the rule masks would join lines or pose
    # as words or values: strokes taller than a character (no glyph is both
    # that tall and narrow), or flat and longer than a double dash.
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    stroke = (h > 2 * word_h) | ((h > 1.3 * word_h) & (w < 0.5 * h))
    boxes = boxes[~stroke & ~((w > 3 * word_h) & (h < 0.3 * word_h))]
    if len(boxes) < 6:
        return None
    # Lines of specks or scraps only are not rows.
    lines = _line_tokens(boxes, char_h, word_h)
    middles = [float(np.median([(b[1] + b[3]) / 2 for b, _ in ln])) for ln in lines]
    order = np.argsort(middles, kind="stable")
    lines = [ln for ln in _join_jittered_value_lines([lines[i] for i in order],
                                                     [middles[i] for i in order], word_h)
             if max(b[3] - b[1] for b, _ in ln) >= 0.6 * word_h]
    info = []
    for ln in lines:
        words, values = _words_and_values(ln)
        info.append(_AlignedLine(
            top=min(b[1] for b, _ in ln), bottom=max(b[3] for b, _ in ln),
            values=values, words=words,
            tall=max(b[3] - b[1] for b, _ in ln) > 1.25 * word_h,
            left=min(b[0] for b, _ in ln), right=max(b[2] for b, _ in ln)))
    return info


def _join_jittered_value_lines(lines: list[list[tuple[np.ndarray, bool]]], middles: list[float],
                               word_h: float) -> list[list[tuple[np.ndarray, bool]]]:
    """Consecutive lines (top to bottom, with their ``middles``) of numbers
    only whose middles are closer than half a character are one row of values
    printed with a jittered baseline (a fax shifts each number, or each digit,
    up or down): their runs make one line, and runs that overlap across them
    (the digits of one number) one run. Two real lines of text cannot lie that
    close without overlapping. A chain of small steps is one row."""
    out: list[list[tuple[np.ndarray, bool]]] = []
    for k, ln in enumerate(lines):
        prev = out[-1] if out else None
        if (prev is not None and all(n for _, n in ln) and all(n for _, n in prev)
                and middles[k] - middles[k - 1] < 0.5 * word_h):
            runs = sorted([b for b, _ in prev] + [b for b, _ in ln], key=lambda b: b[0])
            joined = [runs[0].copy()]
            for b in runs[1:]:
                if b[0] < joined[-1][2]:
                    joined[-1] = np.array([min(joined[-1][0], b[0]), min(joined[-1][1], b[1]),
                                           max(joined[-1][2], b[2]), max(joined[-1][3], b[3])])
                else:
                    joined.append(b.copy())
            out[-1] = [(b, True) for b in joined]
        else:
            out.append(ln)
    return out


def _columns_by_centre(cx: np.ndarray, gap: float) -> list[list[int]]:
    """Indices of boxes grouped into columns: sorted centres, a new column after a gap."""
    order = np.argsort(cx)
    clusters: list[list[int]] = [[int(order[0])]]
    for i in order[1:]:
        if cx[i] - cx[clusters[-1][-1]] > gap:
            clusters.append([])
        clusters[-1].append(int(i))
    return clusters


def _header_rows(info, reg: list[int], char_h: float) -> list[int]:
    """The region's lines from the first value line to the last, preceded by
    up to four lines of words just above it, close together (column headers)."""
    first, last = reg[0], reg[-1]
    rows = list(range(first, last + 1))
    k = first - 1
    while k >= 0 and first - k <= 4:
        top_below = info[rows[0]].top
        if top_below - info[k].bottom > 1.5 * char_h or len(info[k].words) + len(info[k].values) < 2:
            break
        rows.insert(0, k)
        k -= 1
    return rows


def _lines_table(info, rows: list[int], col_edges: list[float], char_h: float, s: float,
                 page: int) -> Table | None:
    """An unruled table of these lines (one row each) and column edges (pixels)."""
    row_edges = [info[rows[0]].top - 0.3 * char_h]
    for a, b in zip(rows, rows[1:], strict=False):
        row_edges.append((info[a].bottom + info[b].top) / 2)
    row_edges.append(info[rows[-1]].bottom + 0.3 * char_h)
    row_edges = sorted(row_edges)
    if len(row_edges) < 2 or any(b <= a for a, b in zip(row_edges, row_edges[1:], strict=False)):
        return None
    rpt = [float(y) * s for y in row_edges]
    cpt = [float(x) * s for x in col_edges]
    cells = [
        Cell(row=r, col=c, bbox=(cpt[c], rpt[r], cpt[c + 1], rpt[r + 1]))
        for r in range(len(rpt) - 1)
        for c in range(len(cpt) - 1)
    ]
    return Table(page=page, bbox=(cpt[0], rpt[0], cpt[-1], rpt[-1]), row_edges=rpt,
                 col_edges=cpt, cells=cells, unruled=True)


def _section_四_row(info, reg: list[int], char_h: float, s: float, page: int) -> Table | None:
    """Section 四 printed without rules, its data row too sparse to show its
    columns: a short region (a header block over one line of values, as
    section 四 is, SECTION_四_MAX_ROWS lines at most) whose last line holds
    some values but fewer than the template's fifteen. Its headers are
    fragments on a fax-like page and its zeros often faded away, so neither
    can place the values; the block's width can: fifteen columns of one
    width across the extent of its lines. Whether that placed them right is
    for section 四's totals to say (their cells are flagged as placed by
    alignment otherwise)."""
    from tallyscan.postprocess.snap import SECTION_四_MAX_ROWS, section_四_columns

    n_四 = len(section_四_columns())
    rows = _header_rows(info, reg, char_h)
    data = info[reg[-1]].values
    if len(rows) > SECTION_四_MAX_ROWS or len(rows) < 2 or not 3 <= len(data) < n_四 - 2:
        return None
    left, right = min(info[i].left for i in rows), max(info[i].right for i in rows)
    pitch = (right - left) / n_四
    # Each column must hold a number, and each value sit within one.
    if pitch < 1.5 * char_h or any(b[2] - b[0] > pitch for b in data):
        return None
    edges = [left + k * pitch for k in range(n_四 + 1)]
    return _lines_table(info, rows, edges, char_h, s, page)


def _text_table(info, reg: list[int], char_h: float, s: float, page: int) -> Table | None:
    vals = np.array([v for i in reg for v in info[i].values])
    # Several lines of values, or one long row of them (section 四's data row).
    if len(vals) < 3 or (len(reg) < 2 and len(vals) < 8):
        return None
    vcx = (vals[:, 0] + vals[:, 2]) / 2
    clusters = _columns_by_centre(vcx, 0.8 * char_h)
    need = max(1, min(3, len(reg) // 4))
    clusters = [c for c in clusters if len(c) >= need]
    if len(clusters) < 3:
        return None
    centres = [float(np.median(vcx[c])) for c in clusters]
    pitch = float(np.median(np.diff(centres)))
    col_edges = [centres[0] - pitch / 2]
    col_edges += [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)]
    col_edges.append(centres[-1] + pitch / 2)
    rows = _header_rows(info, reg, char_h)
    left = min(min((b[0] for b in info[i].values + info[i].words), default=np.inf) for i in rows)
    if left < col_edges[0] - char_h:
        col_edges.insert(0, left - 0.3 * char_h)
    return _lines_table(info, rows, col_edges, char_h, s, page)
