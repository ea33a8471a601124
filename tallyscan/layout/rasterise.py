"""Open documents safely and get one pixel image per page.

>>> doc = open_pdf(data, "a.pdf", settings)        # or images_to_pdf(png_bytes)
>>> gray, dpi = page_image(doc[0], settings)        # uint8 (h, w), upright as displayed
>>> bgr, dpi = page_image_color(doc[0], settings)   # uint8 (h, w, 3), for seal removal

Every image input (PNG, JPEG, TIFF -- one page per TIFF frame) is first wrapped
into an in-memory PDF by :func:`images_to_pdf`, so the rest of the pipeline sees
only PDF pages.

A scanned page is essentially one embedded image covering the page. Rendering it
would resample the scan, and cost a full MuPDF render; instead
:func:`page_image` decodes that image at its native resolution (a JPEG straight
from its stream with libjpeg-turbo), downscaling only if it is finer than
``settings.max_scan_dpi``, and applies the image's placement matrix and the
page's /Rotate so that the array matches the displayed page: pixel (x, y) is at
point (x, y) * 72 / dpi of ``page.rect``. Any other page is rendered with
``page.get_pixmap(dpi=settings.raster_dpi)``.

Every limit in :class:`~tallyscan.settings.Settings` is checked before anything
large is allocated; failures raise the matching :mod:`tallyscan.exceptions`
error with a message saying how to fix it.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import pymupdf
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from tallyscan.exceptions import (
    ActiveContent,
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    NoPages,
    PageTooLarge,
    TooManyPages,
    UnsupportedFormat,
)
from tallyscan.settings import Settings

log = logging.getLogger(__name__)

DAMAGED = "the file is damaged (truncated or corrupt); re-download or re-scan it"
DEFAULT_IMAGE_DPI = 200.0
# Image files whose stated resolution is outside this range get DEFAULT_IMAGE_DPI:
# 72/96 dpi and below are software defaults, not a scanner's setting.
_PLAUSIBLE_DPI = (100.0, 2400.0)
# A page counts as a scan when one image covers at least this share of it.
_SCAN_COVERAGE = 0.85

_mupdf_quiet = False


def _quiet_mupdf() -> None:
    """Keep MuPDF's messages off stderr; they are logged at debug level instead."""
    global _mupdf_quiet
    if not _mupdf_quiet:
        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.mupdf_display_warnings(False)
        _mupdf_quiet = True


def _flush_mupdf_warnings(name: str | None) -> str:
    text = pymupdf.TOOLS.mupdf_warnings(reset=True)
    if text:
        log.debug("%s: MuPDF: %s", name, text.replace("\n", " | ")[:2000])
    return text


# --------------------------------------------------------------------------- #
# Opening


def open_pdf(
    data: bytes, name: str | None = None, settings: Settings | None = None
) -> pymupdf.Document:
    """Open PDF bytes, checking they make a processable document.

    Raises EmptyFile, CorruptDocument, EncryptedDocument, NoPages, TooManyPages
    or PageTooLarge. JavaScript and other actions in the file are never run.
    """
    settings = settings or Settings()
    if not data:
        raise EmptyFile("the file is empty (0 bytes); re-download or re-export it", document=name)
    _quiet_mupdf()
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:
        _flush_mupdf_warnings(name)
        raise CorruptDocument(f"{DAMAGED} (MuPDF: {exc})", document=name) from None
    try:
        warnings_text = _flush_mupdf_warnings(name)
        if doc.needs_pass and not doc.authenticate(""):
            raise EncryptedDocument(
                "the PDF is password-protected; open it with the password and save or print "
                "an unprotected copy, then process that",
                document=name,
            )
        repaired = doc.is_repaired or "repair" in warnings_text
        if repaired and b"%%EOF" not in data[-4096:]:
            # MuPDF rebuilt the cross-reference table of a file that also stops short:
            # a cut-off download or copy. What it recovered may lack pages or content.
            raise CorruptDocument(f"{DAMAGED} (the file ends early)", document=name)
        if doc.page_count == 0:
            if repaired:
                raise CorruptDocument(DAMAGED, document=name)
            raise NoPages("the PDF has no pages; re-export it from the original", document=name)
        check_document(doc, name, settings)
        if not settings.allow_javascript and has_javascript(doc):
            raise ActiveContent(
                "the PDF carries JavaScript (active content), which tallyscan does not accept; "
                "print it to a new PDF (or scan it) and submit that, or set "
                f"{Settings.env_var('allow_javascript')}=1 to read it anyway (the script is "
                "never run)",
                document=name,
            )
    except Exception:
        doc.close()
        raise
    if doc.is_repaired:
        log.info("%s: the PDF was damaged and repaired on opening", name)
    return doc


_JAVASCRIPT = re.compile(r"/(?:JavaScript|JS)\b")


def has_javascript(doc: pymupdf.Document) -> bool:
    """Whether any object of the PDF is a JavaScript action or name-tree entry."""
    for xref in range(1, doc.xref_length()):
        try:
            text = doc.xref_object(xref, compressed=True)
        except Exception:  # a damaged object: not evidence either way
            continue
        if _JAVASCRIPT.search(text):
            return True
    return False


def check_document(doc: pymupdf.Document, name: str | None, settings: Settings) -> None:
    """Page count and page size limits (raises TooManyPages, PageTooLarge, CorruptDocument)."""
    n = doc.page_count
    if n == 0:
        raise NoPages("the document has no pages", document=name)
    if n > settings.max_pages:
        raise TooManyPages(
            f"the document has {n} pages, more than the limit of {settings.max_pages}; an annual "
            f"report is a few pages -- check it is the right file, or set "
            f"{Settings.env_var('max_pages')}={n} to process it anyway",
            document=name,
        )
    for i in range(n):
        try:
            rect = doc[i].rect
        except Exception as exc:
            raise CorruptDocument(
                f"{DAMAGED} (page {i + 1} cannot be read: {exc})", document=name
            ) from None
        side = max(rect.width, rect.height)
        if (
            not math.isfinite(side)
            or side > settings.max_page_pt
            or min(rect.width, rect.height) <= 0
        ):
            raise PageTooLarge(
                f"page {i + 1} is {rect.width:.0f} x {rect.height:.0f} pt "
                f"({rect.width / 72:.0f} x {rect.height / 72:.0f} in), outside the allowed size "
                f"(sides up to {settings.max_page_pt:g} pt); fix the page size, or set "
                f"{Settings.env_var('max_page_pt')} higher",
                document=name,
            )


def _pixels_too_many(
    w: int, h: int, settings: Settings, name: str | None, what: str
) -> PageTooLarge:
    return PageTooLarge(
        f"{what} is {w} x {h} pixels ({w * h / 1e6:.0f} megapixels), over the limit of "
        f"{settings.max_image_pixels / 1e6:.0f} megapixels (a possible decompression bomb); "
        f"scan at a lower resolution, or set {Settings.env_var('max_image_pixels')} higher",
        document=name,
    )


def images_to_pdf(
    data: bytes, name: str | None = None, settings: Settings | None = None
) -> pymupdf.Document:
    """Wrap a PNG, JPEG or TIFF (all frames) into an in-memory PDF, one page per frame.

    The page size comes from the image's resolution (DEFAULT_IMAGE_DPI when it has
    none, or an implausible one), so a 1654 x 2339 pixel scan at 200 dpi becomes
    an A4 page. EXIF orientation is applied; transparency is flattened on white.
    JPEGs that need no change are embedded as they are (no re-compression).
    Raises EmptyFile, UnsupportedFormat, CorruptDocument, TooManyPages or PageTooLarge.
    """
    settings = settings or Settings()
    if not data:
        raise EmptyFile("the file is empty (0 bytes); re-download or re-export it", document=name)
    _quiet_mupdf()
    doc = pymupdf.open()
    pillow_limit = Image.MAX_IMAGE_PIXELS
    # Pillow refuses images over 2 x MAX_IMAGE_PIXELS: make that our own cap.
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels // 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                im = Image.open(io.BytesIO(data))
            except UnidentifiedImageError:
                raise UnsupportedFormat(
                    "not a PNG, JPEG or TIFF image that can be read; convert it to PDF or PNG",
                    document=name,
                ) from None
            with im:
                n_frames = getattr(im, "n_frames", 1)
                if n_frames > settings.max_pages:
                    raise TooManyPages(
                        f"the image has {n_frames} frames (pages), more than the limit of "
                        f"{settings.max_pages}; set {Settings.env_var('max_pages')}={n_frames} "
                        "to process it anyway",
                        document=name,
                    )
                for frame in ImageSequence.Iterator(im):
                    w, h = frame.size
                    if w * h > settings.max_image_pixels:
                        raise _pixels_too_many(
                            w, h, settings, name, f"image frame {doc.page_count + 1}"
                        )
                    if w == 0 or h == 0:
                        raise CorruptDocument(DAMAGED, document=name)
                    xdpi, ydpi = _image_dpi(frame.info.get("dpi"))
                    pw, ph = w * 72.0 / xdpi, h * 72.0 / ydpi
                    orientation = frame.getexif().get(0x0112, 1) if hasattr(frame, "getexif") else 1
                    if orientation in (5, 6, 7, 8):
                        pw, ph = ph, pw
                    if max(pw, ph) > settings.max_page_pt:
                        raise PageTooLarge(
                            f"the image is {pw / 72:.0f} x {ph / 72:.0f} inches at {xdpi:g} dpi, over "
                            f"the page size limit of {settings.max_page_pt:g} pt; set "
                            f"{Settings.env_var('max_page_pt')} higher",
                            document=name,
                        )
                    page = doc.new_page(width=pw, height=ph)
                    raw_ok = (
                        im.format == "JPEG"
                        and n_frames == 1
                        and frame.mode in ("L", "RGB")
                        and orientation in (None, 1)
                    )
                    if raw_ok:
                        page.insert_image(page.rect, stream=data)
                        continue
                    frame.load()
                    pic = ImageOps.exif_transpose(frame) if orientation not in (None, 1) else frame
                    pix = _pil_to_pixmap(pic)
                    page.insert_image(page.rect, pixmap=pix)
    except (EmptyFile, UnsupportedFormat, TooManyPages, PageTooLarge, CorruptDocument):
        doc.close()
        raise
    except Image.DecompressionBombError as exc:
        doc.close()
        raise PageTooLarge(
            f"the image is too large to decode safely, a possible decompression bomb ({exc}); "
            f"scan at a lower resolution, or set {Settings.env_var('max_image_pixels')} higher",
            document=name,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, RuntimeError) as exc:
        doc.close()
        raise CorruptDocument(
            f"the image is damaged (truncated or corrupt); re-download or re-scan it ({exc})",
            document=name,
        ) from None
    except BaseException:
        doc.close()
        raise
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    if doc.page_count == 0:
        doc.close()
        raise NoPages("the image file holds no image", document=name)
    return doc


def _image_dpi(dpi) -> tuple[float, float]:
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI
    lo, hi = _PLAUSIBLE_DPI
    if not (lo <= x <= hi and lo <= y <= hi):
        return DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI
    return x, y


def _pil_to_pixmap(pic) -> pymupdf.Pixmap:
    """A PIL image as an 8-bit gray or RGB pixmap, transparency flattened on white."""
    mode = pic.mode
    if mode in ("1", "L"):
        out = pic.convert("L")
    elif mode == "RGB":
        out = pic
    elif mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(pic, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        out = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8), "L")
    elif mode in ("LA", "PA", "RGBA", "P", "La", "RGBa") or "transparency" in pic.info:
        rgba = pic.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba).convert("RGB")
    else:  # CMYK, YCbCr, LAB, HSV ...
        out = pic.convert("RGB")
    cs = pymupdf.csGRAY if out.mode == "L" else pymupdf.csRGB
    return pymupdf.Pixmap(cs, out.width, out.height, out.tobytes(), False)


# --------------------------------------------------------------------------- #
# Page images


@dataclass
class ScanImage:
    """The one image that makes a page a scan, and where it is drawn."""

    xref: int
    width: int  # pixels
    height: int
    matrix: tuple[float, float, float, float, float, float]  # unit square -> displayed page pt
    bbox: tuple[float, float, float, float]  # visible area, displayed page pt
    colorspace_n: int


def find_scan_image(page: pymupdf.Page) -> ScanImage | None:
    """The embedded image a scanned page consists of, or None if the page is not a plain scan.

    A plain scan draws exactly one (unmasked) image covering most of the page, and
    nothing else that shows: invisible OCR text, and anything the image hides, are fine.
    """
    doc = page.parent
    if not doc.is_pdf:
        return None
    try:
        log_entries = page.get_bboxlog()
    except Exception:
        return None
    kinds = [k for k, _ in log_entries]
    n_images = sum(1 for k in kinds if k == "fill-image")
    if n_images != 1:
        return None
    i_img = kinds.index("fill-image")
    img_rect = pymupdf.Rect(log_entries[i_img][1]) + (-1, -1, 1, 1)
    for i, (k, r) in enumerate(log_entries):
        if i == i_img or k == "ignore-text" or k.startswith(("clip", "pop", "push", "end", "begin")):
            continue
        rr = pymupdf.Rect(r)
        if rr.is_empty or rr.width * rr.height < 4.0:  # specks, hairlines
            continue
        if i < i_img and img_rect.contains(rr):
            continue  # drawn first and hidden under the scan (a page background)
        return None  # something visible besides the scan
    images = page.get_images(full=True)
    infos = page.get_image_info()
    if len(infos) != 1:
        return None
    info = infos[0]
    w, h = int(info["width"]), int(info["height"])
    candidates = [im for im in images if im[2] == w and im[3] == h]
    if len(candidates) != 1:
        return None
    xref, smask = candidates[0][0], candidates[0][1]
    if smask:
        return None
    if doc.xref_get_key(xref, "ImageMask")[1] == "true":
        return None
    rot = page.rotation_matrix
    m = pymupdf.Matrix(info["transform"]) * rot
    bbox = pymupdf.Rect(info["bbox"]) * rot
    prect = page.rect
    visible = bbox & prect
    if (
        visible.is_empty
        or visible.width * visible.height < _SCAN_COVERAGE * prect.width * prect.height
    ):
        return None
    n = _colorspace_n(doc, xref)
    return ScanImage(
        xref=xref,
        width=w,
        height=h,
        matrix=(m.a, m.b, m.c, m.d, m.e, m.f),
        bbox=(visible.x0, visible.y0, visible.x1, visible.y1),
        colorspace_n=n,
    )


def _colorspace_n(doc: pymupdf.Document, xref: int) -> int:
    """Components of an image's colour space (1, 3, 4), or 0 when it is something else."""
    kind, value = doc.xref_get_key(xref, "ColorSpace")
    named = {"/DeviceGray": 1, "/DeviceRGB": 3, "/DeviceCMYK": 4, "/CalGray": 1, "/CalRGB": 3}
    if kind == "name":
        return named.get(value, 0)
    if kind == "xref":  # an indirect array such as [/ICCBased 7 0 R]
        value = doc.xref_object(int(value.split()[0]), compressed=True)
        kind = "array"
    if kind == "array":
        parts = value.strip("[] ").split()
        if parts and parts[0] == "/ICCBased" and len(parts) >= 2 and parts[1].isdigit():
            n = doc.xref_get_key(int(parts[1]), "N")[1]
            return int(n) if n.isdigit() and int(n) in (1, 3, 4) else 0
        if parts and parts[0] in ("/CalGray", "/CalRGB"):
            return named[parts[0]]
    return 0


def page_image_color(
    page: pymupdf.Page, settings: Settings | None = None
) -> tuple[np.ndarray, float]:
    """Like :func:`page_image` but always BGR ``uint8 (h, w, 3)``."""
    return page_image(page, settings, color=True)


def page_image(
    page: pymupdf.Page, settings: Settings | None = None, *, color: bool | None = False
) -> tuple[np.ndarray, float]:
    """The displayed page as a ``uint8`` image, and its dpi.

    ``color=False``: grayscale (h, w); ``True``: BGR (h, w, 3); ``None``: BGR when
    the page's scan image has colour, grayscale otherwise (rendered pages: gray).
    Raises PageTooLarge for an image over ``settings.max_image_pixels`` and
    CorruptDocument when the page's data cannot be decoded.
    """
    settings = settings or Settings()
    name = page.parent.name or None
    _quiet_mupdf()
    try:
        scan = find_scan_image(page)
        if scan is not None:
            if scan.width * scan.height > settings.max_image_pixels:
                raise _pixels_too_many(
                    scan.width, scan.height, settings, None, f"the scan on page {page.number + 1}"
                )
            want_color = (scan.colorspace_n != 1) if color is None else bool(color)
            out = _scan_to_page(page, scan, settings, want_color)
            if out is not None:
                return out
        _check_render_budget(page, settings)
        want_color = bool(color)
        pix = page.get_pixmap(
            dpi=settings.raster_dpi,
            colorspace=pymupdf.csRGB if want_color else pymupdf.csGRAY,
            alpha=False,
        )
        img = _pixmap_array(pix)
        if want_color:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        return img, float(settings.raster_dpi)
    except (PageTooLarge, CorruptDocument):
        raise
    except (RuntimeError, pymupdf.mupdf.FzErrorBase) as exc:
        _flush_mupdf_warnings(name)
        raise CorruptDocument(f"{DAMAGED} (page {page.number + 1}: {exc})") from None


def _check_render_budget(page: pymupdf.Page, settings: Settings) -> None:
    r = page.rect
    s = settings.raster_dpi / 72.0
    w, h = int(r.width * s + 1), int(r.height * s + 1)
    if w * h > settings.max_image_pixels:
        raise _pixels_too_many(
            w, h, settings, None, f"page {page.number + 1} rendered at {settings.raster_dpi} dpi"
        )
    # MuPDF decodes embedded images whole when rendering: check their sizes first.
    for im in page.get_images(full=True):
        if im[2] * im[3] > settings.max_image_pixels:
            raise _pixels_too_many(
                im[2], im[3], settings, None, f"an image on page {page.number + 1}"
            )


def _pixmap_array(pix: pymupdf.Pixmap) -> np.ndarray:
    a = np.frombuffer(pix.samples_mv, dtype=np.uint8).reshape(pix.height, pix.stride)
    a = a[:, : pix.width * pix.n]
    a = a.reshape(pix.height, pix.width, pix.n) if pix.n > 1 else a
    return np.array(a, copy=True)  # own the memory: the pixmap is freed after


_REDUCED = {
    (False, 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    (False, 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    (False, 8): cv2.IMREAD_REDUCED_GRAYSCALE_8,
    (True, 2): cv2.IMREAD_REDUCED_COLOR_2,
    (True, 4): cv2.IMREAD_REDUCED_COLOR_4,
    (True, 8): cv2.IMREAD_REDUCED_COLOR_8,
}


def _decode_scan(
    doc: pymupdf.Document, scan: ScanImage, color: bool, reduce: int
) -> np.ndarray | None:
    """The image's pixels (gray or BGR), possibly decoded at 1/reduce size (JPEG only)."""
    filt = doc.xref_get_key(scan.xref, "Filter")
    decode = doc.xref_get_key(scan.xref, "Decode")[0]
    bpc = doc.xref_get_key(scan.xref, "BitsPerComponent")[1]
    if (
        filt == ("name", "/DCTDecode")
        and decode == "null"
        and bpc in ("8", "null")
        and scan.colorspace_n in (1, 3)
    ):
        raw = doc.xref_stream_raw(scan.xref)
        flag = (
            (cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
            if reduce == 1
            else _REDUCED[(color, reduce)]
        )
        img = cv2.imdecode(np.frombuffer(raw, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
        if img is not None:
            return img
        log.debug("JPEG stream of xref %d not decodable by OpenCV; using MuPDF", scan.xref)
    if reduce != 1:
        return None
    pix = pymupdf.Pixmap(doc, scan.xref)
    if pix.alpha:
        pix = pymupdf.Pixmap(pix, 0)
    if pix.n == 1 and not color:
        return _pixmap_array(pix)
    if pix.n != 3 or pix.colorspace is None or pix.colorspace.n != 3:
        if pix.n == 1:  # gray wanted as BGR
            gray = _pixmap_array(pix)
            return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        pix = pymupdf.Pixmap(pymupdf.csRGB, pix)  # CMYK, indexed, Lab ...
    rgb = _pixmap_array(pix)
    # The same luma weights libjpeg uses on the JPEG path.
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if color else cv2.COLOR_RGB2GRAY)


def _scan_to_page(
    page: pymupdf.Page, scan: ScanImage, settings: Settings, color: bool
) -> tuple[np.ndarray, float] | None:
    a, b, c, d, e, f = scan.matrix
    # Points per image pixel along the image's own axes.
    len_u, len_v = math.hypot(a, b), math.hypot(c, d)
    if len_u <= 0 or len_v <= 0:
        return None
    dpi_u, dpi_v = scan.width * 72.0 / len_u, scan.height * 72.0 / len_v
    native = max(dpi_u, dpi_v)
    target = min(native, float(settings.max_scan_dpi))
    if abs(dpi_u - dpi_v) <= 0.01 * native and target >= 0.999 * native:
        target = (dpi_u + dpi_v) / 2.0  # keep the native grid
    # Decode at a JPEG-reduced size when that still leaves at least the target resolution.
    reduce = 1
    for r in (8, 4, 2):
        if min(dpi_u, dpi_v) / r >= target * 0.999:
            reduce = r
            break
    img = _decode_scan(page.parent, scan, color, reduce)
    if img is None and reduce != 1:
        img = _decode_scan(page.parent, scan, color, 1)
    if img is None:
        return None
    ih, iw = img.shape[:2]
    # Resample to the target dpi on both axes when needed (downscale, or non-square pixels).
    want_w = max(1, round(len_u * target / 72.0))
    want_h = max(1, round(len_v * target / 72.0))
    if abs(want_w - iw) > 1 or abs(want_h - ih) > 1:
        # Area averaging when shrinking: bilinear (5x faster) cost 13 of 200 cells on
        # devset doc002 (300 -> 200 dpi), the thin strokes of digits alias.
        shrink = max(iw / want_w, ih / want_h)
        interp = cv2.INTER_AREA if shrink > 1.0 else cv2.INTER_LINEAR
        img = cv2.resize(img, (want_w, want_h), interpolation=interp)
        ih, iw = img.shape[:2]
    s = target / 72.0
    # Image pixel (col, row) corner -> output pixel corner: x = L @ (col, row) + t
    L = np.array([[a * s / iw, c * s / ih], [b * s / iw, d * s / ih]])
    t = np.array([e * s, f * s])
    pr = page.rect
    out_w, out_h = _pixels(pr.width * s), _pixels(pr.height * s)
    if out_w * out_h > settings.max_image_pixels:
        raise _pixels_too_many(
            out_w, out_h, settings, None, f"page {page.number + 1} at {target:.0f} dpi"
        )
    P = np.round(L)
    is_perm = (
        np.all(np.isin(P, (-1.0, 0.0, 1.0)))
        and abs(np.linalg.det(P)) == 1.0
        and float(np.abs(L - P).max()) * max(iw, ih) < 1.0
    )
    if is_perm:
        out = _place_permuted(img, P, t, out_w, out_h)
    else:
        M = np.hstack([L, (L @ np.array([0.5, 0.5]) + t - 0.5)[:, None]])
        border = (255, 255, 255) if img.ndim == 3 else 255
        out = cv2.warpAffine(
            img,
            M,
            (out_w, out_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )
    _blank_outside(out, scan.bbox, s)
    return out, target


def _pixels(extent: float) -> int:
    """Whole pixels for a page side: as MuPDF renders (rounding outwards), except
    that a side within a hair of a whole number (float noise in the page box) is
    not given an extra pixel."""
    n = round(extent)
    if abs(extent - n) < 0.02:
        return max(1, n)
    return max(1, math.ceil(extent))


def _place_permuted(
    img: np.ndarray, P: np.ndarray, t: np.ndarray, out_w: int, out_h: int
) -> np.ndarray:
    """Apply a signed axis permutation (rotation by quarter turns, flips) and a shift, no resampling."""
    arr = img
    if P[0, 0] == 0:  # x follows the image rows: transpose
        arr = arr.transpose(1, 0, 2) if arr.ndim == 3 else arr.T
        sx, sy = P[0, 1], P[1, 0]
    else:
        sx, sy = P[0, 0], P[1, 1]
    if sx < 0:
        arr = arr[:, ::-1]
    if sy < 0:
        arr = arr[::-1, :]
    h, w = arr.shape[:2]
    # Output position of the array's top-left corner: the smallest x/y of the corners.
    x0 = round(t[0] + min(0.0, sx * w))
    y0 = round(t[1] + min(0.0, sy * h))
    if (
        x0 == 0
        and y0 == 0
        and abs(w - out_w) <= 2
        and abs(h - out_h) <= 2
        and w >= out_w
        and h >= out_h
    ):
        return np.ascontiguousarray(arr[:out_h, :out_w])
    shape = (out_h, out_w) + arr.shape[2:]
    out = np.full(shape, 255, dtype=np.uint8)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    cw = min(w - sx0, out_w - dx0)
    ch = min(h - sy0, out_h - dy0)
    if cw > 0 and ch > 0:
        out[dy0 : dy0 + ch, dx0 : dx0 + cw] = arr[sy0 : sy0 + ch, sx0 : sx0 + cw]
    return out


def _blank_outside(out: np.ndarray, bbox: tuple[float, float, float, float], s: float) -> None:
    """White out what lies outside the image's visible (clipped) area."""
    h, w = out.shape[:2]
    x0, y0 = max(0, math.floor(bbox[0] * s + 0.5)), max(0, math.floor(bbox[1] * s + 0.5))
    x1, y1 = min(w, math.floor(bbox[2] * s + 0.5)), min(h, math.floor(bbox[3] * s + 0.5))
    # Within a pixel or two of the page edge is rounding, not a clip.
    if x0 > 2:
        out[:, :x0] = 255
    if y0 > 2:
        out[:y0] = 255
    if x1 < w - 2:
        out[:, x1:] = 255
    if y1 < h - 2:
        out[y1:] = 255
