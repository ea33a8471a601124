"""Simulated print + scan of a PDF: image-only output with realistic defects.

Each page is rasterised, then "printed" (faded, uneven toner, blur), stamped
with a red circular seal over part of a table, "scanned" (skew, uneven light,
paper tint, sensor noise, JPEG artefacts) and written as one JPEG per page into
a new PDF that has no text layer. The ``heavy`` level adds broken ruling lines,
salt-and-pepper specks, fax-like binarisation and a mildly warped sheet.

``rotate`` turns the scanned sheet clockwise by 90/180/270 degrees (a sheet
fed sideways or upside down); the page box then matches the turned image, and
``/Rotate`` stays 0, so the reader has to detect the orientation itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np
import pymupdf

LEVELS = ("clean", "mild", "heavy")
ROTATIONS = (0, 90, 180, 270)
# cv2.rotate codes for the clockwise turns, as used by the devset's meta "turned"
CV2_TURN = {
    0: None,
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass(frozen=True)
class _Params:
    blur: float  # print/scan optics, px at 200 dpi
    fade: tuple[float, float]  # ink density range (1 = full black)
    illum: float  # depth of the uneven-light field
    noise: float  # gaussian sensor noise, in 8-bit levels
    skew: float  # max |skew| in degrees when not given
    jpeg: int  # final JPEG quality
    broken_lines: int = 0  # gaps per 1000 px of ruling
    specks: float = 0.0  # specks per megapixel
    binarise: bool = False
    warp: float = 0.0  # px at 200 dpi
    pre_jpeg: int | None = None  # an earlier, lower-quality JPEG pass


PARAMS = {
    "clean": _Params(blur=0.45, fade=(0.92, 1.0), illum=0.04, noise=1.5, skew=0.35, jpeg=75),
    "mild": _Params(blur=0.7, fade=(0.75, 0.95), illum=0.12, noise=3.0, skew=1.0, jpeg=70),
    "heavy": _Params(
        blur=0.9,
        fade=(0.65, 0.92),
        illum=0.22,
        noise=5.0,
        skew=1.8,
        jpeg=62,
        broken_lines=5,
        specks=400.0,
        binarise=True,
        warp=3.0,
        pre_jpeg=45,
    ),
}


# --------------------------------------------------------------------------- helpers


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int = 5) -> np.ndarray:
    """A smooth random field in [0, 1] (low-frequency noise)."""
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    small = rng.random((gh, gw)).astype(np.float32)
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def _line_masks(gray: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical ruling masks of a rendered page (uint8 0/1)."""
    ink = (gray < 140).astype(np.uint8)
    n = max(15, int(40 * scale))
    hor = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1)))
    ver = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, n)))
    return hor, ver


def _seal_text(doc: pymupdf.Document) -> str:
    """The agency name of the report's title, for the seal's ring text."""
    try:
        head = "".join(doc[0].get_text("text").split())[:120]
    except Exception:  # pragma: no cover - defensive, text layer is optional
        head = ""
    m = re.search(r"^(.{2,24}?)\d{4}年(?:度)?政府信息公开", head)
    return m.group(1) if m else "政府信息公开专用章"


def _seal_mask(text: str, diameter_px: int, rng: np.random.Generator) -> np.ndarray:
    """Alpha mask (float32 0..1) of a round official seal: ring, arc text, star."""
    size_pt = 120.0
    doc = pymupdf.open()
    page = doc.new_page(width=size_pt, height=size_pt)
    c = size_pt / 2
    ring_r, ring_w = c - 3.0, 3.6
    page.draw_circle((c, c), ring_r - ring_w / 2, color=(0, 0, 0), width=ring_w)
    # star in the middle
    star_r = size_pt * 0.14
    pts = []
    for i in range(10):
        rr = star_r if i % 2 == 0 else star_r * 0.4
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((c + rr * math.cos(a), c + rr * math.sin(a)))
    page.draw_polyline(pts + [pts[0]], color=(0, 0, 0), fill=(0, 0, 0), width=0)
    # ring text along the upper arc, each glyph upright towards the rim
    text = text[:16]
    n = max(1, len(text))
    span = min(250.0, 22.0 * n + 40.0)
    ch_size = min(15.0, 2 * math.pi * (ring_r - 12) * span / 360 / n * 0.9)
    tr = ring_r - ring_w - ch_size * 0.62
    for i, ch in enumerate(text):
        ang = -span / 2 + span * (i + 0.5) / n  # degrees clockwise from "up"
        x = c + tr * math.sin(math.radians(ang))
        y = c - tr * math.cos(math.radians(ang))
        page.insert_text(
            (x - ch_size / 2, y + ch_size * 0.38),
            ch,
            fontname="china-s",
            fontsize=ch_size,
            color=(0, 0, 0),
            morph=(pymupdf.Point(x, y), pymupdf.Matrix(-ang)),
        )
    pix = page.get_pixmap(
        matrix=pymupdf.Matrix(diameter_px / size_pt, diameter_px / size_pt),
        colorspace=pymupdf.csGRAY,
    )
    gray = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width).astype(np.float32)
    mask = 1.0 - gray / 255.0
    # a hand-stamped seal: uneven ink, a little rotated, soft edge
    h, w = mask.shape
    ink = 0.55 + 0.45 * _smooth_field(rng, h, w, cells=4)
    ink *= np.where(rng.random((h, w)) < 0.06, 0.55, 1.0).astype(np.float32)
    mask *= ink
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-25, 25)), 1.0)
    mask = cv2.warpAffine(mask, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    return cv2.GaussianBlur(mask, (0, 0), 0.8)


def _stamp(
    img: np.ndarray, mask: np.ndarray, cx: int, cy: int, color=(0.9, 0.2, 0.24), opacity=0.7
) -> None:
    """Multiply-blend a red seal centred at (cx, cy) into img (float32 HxWx3, in place)."""
    H, W = img.shape[:2]
    h, w = mask.shape
    x0, y0 = cx - w // 2, cy - h // 2
    ax0, ay0 = max(0, x0), max(0, y0)
    ax1, ay1 = min(W, x0 + w), min(H, y0 + h)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    m = mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0, None] * opacity
    tint = np.asarray(color, np.float32)[None, None, :]
    img[ay0:ay1, ax0:ax1] *= 1.0 - m * (1.0 - tint)


def _table_box(hor: np.ndarray, ver: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(hor | ver)
    if len(xs) < 50:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


# --------------------------------------------------------------------------- page


def _render(page: pymupdf.Page, dpi: int) -> np.ndarray:
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csRGB, alpha=False)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3).copy()


def _degrade_page(
    rgb: np.ndarray,
    p: _Params,
    rng: np.random.Generator,
    *,
    scale: float,
    skew: float,
    seal: tuple[np.ndarray, int, int] | None,
    color: bool,
) -> np.ndarray:
    H, W = rgb.shape[:2]
    gray0 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    img = rgb.astype(np.float32) / 255.0

    # broken ruling: erase short stretches of the table lines
    if p.broken_lines:
        hor, ver = _line_masks(gray0, scale)
        erase = np.zeros((H, W), np.uint8)
        for mask, horizontal in ((hor, True), (ver, False)):
            ys, xs = np.nonzero(mask)
            if len(xs) == 0:
                continue
            n = int(len(xs) / max(1.0, 2.0 * scale) / 1000 * p.broken_lines) + 1
            for i in rng.integers(0, len(xs), n):
                length = int(rng.uniform(4, 22) * scale)
                th = max(2, int(3 * scale))
                x, y = int(xs[i]), int(ys[i])
                if horizontal:
                    cv2.rectangle(erase, (x, y - th), (x + length, y + th), 1, -1)
                else:
                    cv2.rectangle(erase, (x - th, y), (x + th, y + length), 1, -1)
        lines = cv2.dilate(hor | ver, np.ones((3, 3), np.uint8))
        gone = (erase & lines).astype(bool)
        img[gone] = 1.0

    # printing: uneven toner density
    ink = 1.0 - img
    lo, hi = p.fade
    density = lo + (hi - lo) * _smooth_field(rng, H, W, cells=6)
    ink *= density[..., None]
    if p.binarise or p.specks:
        ink *= np.where(rng.random((H, W)) < 0.04, 0.6, 1.0).astype(np.float32)[..., None]
    img = 1.0 - ink
    img = cv2.GaussianBlur(img, (0, 0), max(0.3, p.blur * scale))

    # fax-like binarisation with ragged edges
    if p.binarise:
        g = img.mean(axis=2) + rng.normal(0, 0.08, (H, W)).astype(np.float32)
        t = float(rng.uniform(0.6, 0.7))
        dark = float(rng.uniform(0.05, 0.25))
        bw = np.where(g < t, dark, 1.0).astype(np.float32)
        img = np.repeat(cv2.GaussianBlur(bw, (0, 0), 0.5 * scale)[..., None], 3, axis=2)

    # salt-and-pepper specks
    if p.specks:
        n = int(p.specks * H * W / 1e6)
        g = img  # drawn in place
        for x, y, rad in zip(
            rng.integers(0, W, n),
            rng.integers(0, H, n),
            rng.uniform(0.3, 1.4, n) * scale,
            strict=True,
        ):
            val = float(rng.uniform(0.05, 0.5))
            cv2.circle(g, (int(x), int(y)), max(1, int(rad)), (val, val, val), -1)
        salt = rng.random((H, W)) < 0.0015
        img[salt] = 1.0

    # the seal goes on after printing: red ink over the black
    if seal is not None:
        mask, cx, cy = seal
        _stamp(img, mask, cx, cy, opacity=float(rng.uniform(0.55, 0.85)))

    # paper tint and uneven illumination
    paper = np.array(
        [rng.uniform(0.95, 0.99), rng.uniform(0.94, 0.98), rng.uniform(0.9, 0.96)], np.float32
    )
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    grad = (np.cos(ang) * xx / W + np.sin(ang) * yy / H + 1.0) / 2.0
    light = 1.0 - p.illum * (0.6 * grad + 0.4 * _smooth_field(rng, H, W, cells=3))
    img *= paper[None, None, :] * light[..., None]
    del xx, yy

    # a sheet that does not lie flat
    if p.warp:
        amp = p.warp * scale
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        fx, fy = rng.uniform(0.6, 1.6, 2)
        px, py = rng.uniform(0, 2 * math.pi, 2)
        map_x = xx + amp * np.sin(2 * math.pi * fy * yy / H + py).astype(np.float32)
        map_y = yy + amp * np.sin(2 * math.pi * fx * xx / W + px).astype(np.float32)
        img = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        del xx, yy, map_x, map_y

    # skew
    if skew:
        rot = cv2.getRotationMatrix2D((W / 2, H / 2), skew, 1.0)
        border = tuple(float(v) for v in paper * (1.0 - p.illum / 2))
        img = cv2.warpAffine(
            img,
            rot,
            (W, H),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )

    # sensor noise
    img += rng.normal(0.0, p.noise / 255.0, img.shape[:2]).astype(np.float32)[..., None]
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if not color:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    if p.pre_jpeg:
        bgr = out if out.ndim == 2 else cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, p.pre_jpeg])
        assert ok
        bgr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        out = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return out


# --------------------------------------------------------------------------- document


def scan_pdf(
    pdf_bytes: bytes,
    *,
    level: str = "mild",
    dpi: int = 200,
    rotate: int = 0,
    skew_deg: float | None = None,
    seed: int = 0,
    color: bool = True,
    seal: bool = True,
    jpeg_quality: int | None = None,
) -> bytes:
    """Simulate printing and scanning ``pdf_bytes``; return an image-only PDF.

    ``level``: "clean", "mild" or "heavy". ``dpi``: scan resolution (150–300).
    ``rotate``: clockwise turn of the scanned sheet (0/90/180/270). ``skew_deg``:
    the skew of every page (default: random within the level's range, a little
    different per page). ``color=False`` gives a greyscale scan. ``seal`` stamps
    a red seal over part of a table (on the last page that has one).
    ``jpeg_quality`` overrides the level's final JPEG quality.
    """
    if level not in PARAMS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if rotate not in ROTATIONS:
        raise ValueError(f"rotate must be one of {ROTATIONS}, not {rotate!r}")
    p = PARAMS[level]
    quality = int(jpeg_quality or p.jpeg)
    scale = dpi / 200.0
    src = pymupdf.open(stream=pdf_bytes, filetype="pdf")
    doc_rng = np.random.default_rng([seed, 7919])
    base_skew = skew_deg if skew_deg is not None else float(doc_rng.uniform(-p.skew, p.skew))

    pages = [_render(page, dpi) for page in src]
    seal_at: tuple[int, int, int] | None = None
    if seal and pages:
        boxes = [
            _table_box(*_line_masks(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), scale)) for im in pages
        ]
        with_table = [i for i, b in enumerate(boxes) if b is not None]
        if with_table:
            i = with_table[-1]
            x0, y0, x1, y1 = boxes[i]  # type: ignore[misc]
            cx = int(doc_rng.uniform(x0 + 0.55 * (x1 - x0), x1 - 0.05 * (x1 - x0)))
            cy = int(doc_rng.uniform(y0 + 0.5 * (y1 - y0), y1 + 0.1 * (y1 - y0)))
        else:
            i = len(pages) - 1
            H, W = pages[i].shape[:2]
            cx, cy = int(W * 0.7), int(H * 0.75)
        seal_at = (i, cx, cy)
    seal_mask = _seal_mask(_seal_text(src), int(42 / 25.4 * dpi), doc_rng) if seal_at else None

    out = pymupdf.open()
    for i, rgb in enumerate(pages):
        rng = np.random.default_rng([seed, i])
        skew = base_skew + (float(rng.uniform(-0.15, 0.15)) if skew_deg is None else 0.0)
        stamp = (
            (seal_mask, seal_at[1], seal_at[2])
            if seal_at and seal_at[0] == i and seal_mask is not None
            else None
        )
        img = _degrade_page(rgb, p, rng, scale=scale, skew=skew, seal=stamp, color=color)
        if rotate:
            img = np.ascontiguousarray(np.rot90(img, k=-(rotate // 90)))
        h, w = img.shape[:2]
        enc = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", enc, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover
            raise RuntimeError("JPEG encoding failed")
        page = out.new_page(width=w * 72.0 / dpi, height=h * 72.0 / dpi)
        page.insert_image(page.rect, stream=buf.tobytes())
    out.set_metadata(
        {"creator": "tallyscan.synth scan simulation", "producer": "tallyscan.synth (PyMuPDF)"}
    )
    return out.tobytes(garbage=3, deflate=True, no_new_id=True)
