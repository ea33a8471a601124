"""PP-OCR text-line recognition run directly with onnxruntime.

Uses the recognition ONNX model shipped inside the ``rapidocr`` wheel, but not
RapidOCR's pipeline object: there is no text detection (crops are already single
lines) and we need the raw per-frame probability matrix to give every output
character its top-5 alternatives and to re-decode numeric cells over a restricted
alphabet.

Faithful to rapidocr's own ``ch_ppocr_rec`` code where it matters:

* label list = ``["blank"] + metadata["character"].splitlines() + [" "]`` (the
  CTC blank is index 0, a space is appended last); here the blank is shown as
  ``""`` in alternatives;
* pixels are BGR, scaled to ``x / 255``, then ``(x - 0.5) / 0.5``; the line is
  resized to height 48 keeping its aspect ratio and zero-padded on the right.

Unlike rapidocr, the padded width is the crop's own (rounded up to a multiple of
8, at least ``MIN_WIDTH``) rather than at least 320: on short digit cells this is
both faster and more accurate (no long run of padding frames for CTC to misread).
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from tallyscan.exceptions import EngineUnavailable
from tallyscan.model import CharAlternatives, Reading
from tallyscan.ocr.base import (
    NUMERIC_ALPHABET,
    NUMERIC_LOOKALIKES,
    has_foreign_cjk,
    is_blank,
    normalize_numeric_text,
)

REC_HEIGHT = 48
MIN_WIDTH = 32  # padded width floor, in model pixels (4 CTC frames)
MAX_WIDTH = 48 * 64  # a crop wider than 64 "squares" is squeezed (a cell, not a page)
TOP_K = 5
# In numeric mode, a full-alphabet reading with a CJK character (other than 元万无一)
# read at least this surely is kept as a note instead of being forced to digits.
NOTE_CJK_MIN_PROB = 0.5
# Cap a reading's confidence by 1 - p of the strongest character the greedy decode
# may have dropped (see RapidRecognizer._penalise_dropped). On 300 degraded number
# crops this flagged all 3 confident drops and touched 1 of 212 correct readings.
DROPPED_CHAR_PENALTY = True
# Crops of identical padded width up to BATCH_MAX_WIDTH run together, BATCH_SIZE at
# a time: measured ~10-30 % faster per crop for 1-3 digit cells on one thread, but
# no gain (or a loss) from ~160 px on, where one crop already fills the kernels.
BATCH_SIZE = 8
BATCH_MAX_WIDTH = 128

_EXPECTED_REC = "PP-OCRv6_rec_small.onnx"
_EXPECTED_CLS = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"


# --------------------------------------------------------------------------- models


def rapidocr_package_dir() -> Path | None:
    """The installed ``rapidocr`` package directory, found without importing it."""
    try:
        spec = importlib.util.find_spec("rapidocr")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _configured_model_name(pkg_dir: Path, section: str) -> str | None:
    """The model file name rapidocr's default config picks for ``section`` (Rec/Cls).

    Follows config.yaml (ocr_version, model_type, lang_type) through the
    ``model_routes`` of default_models.yaml to the onnxruntime download URL. Any
    surprise in those files just returns None (the caller then globs).
    """
    try:
        import yaml

        cfg = yaml.safe_load((pkg_dir / "config.yaml").read_text(encoding="utf-8"))[section]
        models = yaml.safe_load((pkg_dir / "default_models.yaml").read_text(encoding="utf-8"))
        task = cfg["task_type"]
        version = cfg["ocr_version"]
        lang = str(cfg.get("lang_type", "ch"))
        model_type = cfg["model_type"]
        ort_task = models["onnxruntime"][version][task]
        key = None
        routes = (models.get("model_routes") or {}).get(version, {}).get(task)
        if routes:
            aliases = {
                **routes.get("aliases", {}),
                **(models["model_routes"][version].get("aliases") or {}),
            }
            lang = aliases.get(lang, lang)
            for route in routes.get(model_type) or []:
                if lang in route.get("supported_langs", []):
                    key = route["model_key"]
                    break
        if key is None:
            candidates = [
                k for k in ort_task if k != "aliases" and model_type in k and lang in k.split("_")
            ]
            key = candidates[0] if candidates else None
        if key is None:
            return None
        return Path(str(ort_task[key]["model_dir"])).name
    except Exception:  # noqa: BLE001 - config layout is rapidocr's business
        return None


def _unavailable(expected: str, where: Path | None) -> EngineUnavailable:
    place = f" in {where}" if where else " (rapidocr is not installed)"
    return EngineUnavailable(
        f"OCR model {expected} not found{place}; fix: pip install rapidocr "
        "(the wheel ships the ONNX models tallyscan runs)"
    )


def find_rec_model() -> Path:
    """Path of the Chinese PP-OCR recognition ONNX model inside the rapidocr wheel."""
    pkg = rapidocr_package_dir()
    if pkg is None:
        raise _unavailable(_EXPECTED_REC, None)
    models = pkg / "models"
    name = _configured_model_name(pkg, "Rec")
    if name and (models / name).is_file():
        return models / name
    found = sorted(models.glob("*rec*.onnx"))
    if not found:
        raise _unavailable(name or _EXPECTED_REC, models)
    # Prefer Chinese/multilingual PP-OCR models; among those the newest name sorts last.
    zh = [p for p in found if p.name.lower().startswith(("ch_", "multi_", "pp-ocr"))]
    return max(zh or found, key=lambda p: p.name.lower())


def find_cls_model() -> Path:
    """Path of the PaddleOCR 0/180 text-direction classifier inside the rapidocr wheel."""
    pkg = rapidocr_package_dir()
    if pkg is None:
        raise _unavailable(_EXPECTED_CLS, None)
    models = pkg / "models"
    if (models / _EXPECTED_CLS).is_file():
        return models / _EXPECTED_CLS
    # Only the same family (3x48x192 input): PP-OCRv5's textline_ori models differ.
    found = sorted(models.glob("*ppocr*cls*.onnx"))
    if not found:
        raise _unavailable(_EXPECTED_CLS, models)
    return found[0]


def make_session(path: Path | bytes, threads: int = 1):
    """A CPU onnxruntime session with ``threads`` intra-op threads, 1 inter-op
    (``path``: a model file, or a model's bytes)."""
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - a hard dependency
        raise EngineUnavailable("onnxruntime is not installed; pip install onnxruntime") from e
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if threads <= 1:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        model = path if isinstance(path, bytes) else str(path)
        return ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - corrupt/incompatible model file
        what = "(in memory)" if isinstance(path, bytes) else path
        raise EngineUnavailable(f"cannot load OCR model {what}: {e}") from e


# ------------------------------------------------------------------------- decoding


def ctc_decode(probs: np.ndarray, labels: Sequence[str], top_k: int = TOP_K) -> Reading:
    """Greedy CTC decoding of one ``(T, C)`` probability matrix (blank = column 0).

    Every emitted character gets the ``top_k`` (label, prob) at its best frame (the
    frame of its run where its own probability peaks), best first; the blank shows
    up as ``""`` there, i.e. "this character may not be there at all".
    ``confidence`` is the weakest emitted character's probability (the
    recogniser may lower it further for a possibly dropped character); with nothing
    emitted it is the *minimum* blank probability over the frames (how sure the
    least-sure frame is that nothing is there). The mean was tried first, but it
    reads a crop of a degraded "4" as empty with confidence 0.95 (most frames are
    blank in any reading); the minimum gives 0.01 there and stays >= 0.75 for
    crops holding only a ruling-line fragment.
    """
    t = probs.shape[0]
    if t == 0:
        return Reading.empty(confidence=0.0)
    idx = probs.argmax(axis=1)
    starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    run_labels = idx[starts]
    keep = run_labels != 0
    if not keep.any():
        return Reading.empty(confidence=float(probs[:, 0].min()))
    ends = np.append(starts[1:], t)[keep]
    starts = starts[keep]
    run_labels = run_labels[keep]
    peak = probs[np.arange(t), idx]
    best = np.fromiter(
        (s + int(peak[s:e].argmax()) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)),
        dtype=np.intp,
        count=len(starts),
    )
    top, top_p = _top_k(probs[best], top_k)
    # The emitted label is the argmax at its best frame, hence first; ties aside,
    # force it first so text and alternatives always agree.
    alternatives: CharAlternatives = []
    for f, lab, ids, ps in zip(
        best.tolist(), run_labels.tolist(), top.tolist(), top_p.tolist(), strict=True
    ):
        if ids[0] != lab:
            j = ids.index(lab) if lab in ids else None
            if j is None:
                ids, ps = [lab, *ids[:-1]], [float(probs[f, lab]), *ps[:-1]]
            else:
                ids.insert(0, ids.pop(j))
                ps.insert(0, ps.pop(j))
        alternatives.append([(labels[i], float(p)) for i, p in zip(ids, ps, strict=True)])
    text = "".join(labels[i] for i in run_labels.tolist())
    confidence = float(min(a[0][1] for a in alternatives))
    return Reading(text=text, confidence=confidence, alternatives=alternatives)


def _top_k(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of each row's ``k`` largest entries, best first.

    ``k`` rounds of argmax on a copy: ~10x faster than argpartition on rows of
    18k classes, and already sorted.
    """
    k = min(k, rows.shape[1])
    work = rows.copy()
    n = np.arange(rows.shape[0])
    top = np.empty((rows.shape[0], k), dtype=np.intp)
    top_p = np.empty((rows.shape[0], k), dtype=rows.dtype)
    for j in range(k):
        col = work.argmax(axis=1)
        top[:, j] = col
        top_p[:, j] = work[n, col]
        work[n, col] = -np.inf
    return top, top_p


def dropped_char_candidates(
    probs: np.ndarray,
    labels: Sequence[str],
    min_prob: float = 0.05,
    ignore: Sequence[int] = (),
) -> list[tuple[int, str, float]]:
    """Characters the greedy decode may have dropped, for a later repair step.

    Looks at frames whose argmax is the blank (between or around the emitted
    characters) and reports the strongest non-blank label there when its
    probability reaches ``min_prob``: ``(insert_position, char, prob)`` where
    ``insert_position`` is the index in the decoded text before which it would go
    (at most one candidate per position, the strongest). A label that merely
    spills over from the character in the touching frame is not a candidate, nor
    are the label indices in ``ignore`` (the space: gaps between wide-set
    characters are full of it).
    """
    idx = probs.argmax(axis=1)
    skip = np.zeros(probs.shape[1], dtype=bool)
    skip[0] = True
    skip[list(ignore)] = True
    t = len(idx)
    emitted_before = np.cumsum(np.concatenate(([True], idx[1:] != idx[:-1])) & (idx != 0))
    out: dict[int, tuple[str, float]] = {}
    # A frame whose blank holds more than 1 - min_prob has no candidate: skip it
    # before touching the (wide) rows.
    gaps = np.flatnonzero((idx == 0) & (probs[:, 0] <= 1.0 - min_prob))
    if len(gaps) == 0:
        return []
    rows = probs[gaps]
    rows = np.where(skip, -1.0, rows)
    best = rows.argmax(axis=1)
    for f, j, p in zip(
        gaps.tolist(), best.tolist(), rows[np.arange(len(gaps)), best].tolist(), strict=True
    ):
        if (f > 0 and idx[f - 1] == j) or (f + 1 < t and idx[f + 1] == j):
            continue
        if p >= min_prob:
            pos = int(emitted_before[f])
            if pos not in out or out[pos][1] < p:
                out[pos] = (labels[j], p)
    return [(pos, ch, p) for pos, (ch, p) in sorted(out.items())]


def _merge_mapped(
    alts: list[tuple[str, float]], mapping: dict[str, str]
) -> list[tuple[str, float]]:
    merged: dict[str, float] = {}
    for ch, p in alts:
        m = mapping.get(ch, ch)
        merged[m] = merged.get(m, 0.0) + p
    return sorted(merged.items(), key=lambda kv: -kv[1])


# ----------------------------------------------------------------------- recogniser


class RapidRecognizer:
    """PP-OCR recognition (the rapidocr wheel's ONNX model) on single-line crops."""

    name = "rapidocr"

    def __init__(self, threads: int = 1, model_path: str | os.PathLike[str] | None = None, *,
                 int8_output: bool = False, cache_dir: Path | None = None) -> None:
        """``int8_output``: run the model with its output layer in int8
        (:mod:`tallyscan.ocr.quantize`, cached in ``cache_dir``), or the float
        model where that copy cannot be made."""
        self.model_path = Path(model_path) if model_path else find_rec_model()
        if not self.model_path.is_file():
            raise _unavailable(self.model_path.name, self.model_path.parent)
        self.threads = threads
        model: Path | bytes = self.model_path
        if int8_output:
            from tallyscan.ocr.quantize import int8_output_model

            model = int8_output_model(self.model_path, cache_dir) or self.model_path
        self.int8_output = model is not self.model_path
        self.session = make_session(model, threads)
        self._input = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise EngineUnavailable(
                f"OCR model {self.model_path} has no 'character' metadata; reinstall rapidocr"
            )
        # Exactly rapidocr's CTCLabelDecode list, blank rendered as "".
        self.labels: list[str] = ["", *meta["character"].splitlines(), " "]
        self._space_idx = [i for i, ch in enumerate(self.labels) if i and not ch.strip()]
        self._build_numeric()

    def _build_numeric(self) -> None:
        """Precompute the numeric alphabet: a fold matrix from full-vocab columns."""
        index = {ch: i for i, ch in enumerate(self.labels) if i}
        allowed = [ch for ch in NUMERIC_ALPHABET if ch in index]
        self.numeric_labels: list[str] = ["", *allowed]
        target = {ch: j + 1 for j, ch in enumerate(allowed)}
        src = [0]
        dst = [0]
        for ch in allowed:
            src.append(index[ch])
            dst.append(target[ch])
        for ch, to in NUMERIC_LOOKALIKES.items():
            if ch in index and to in target and ch not in target:
                src.append(index[ch])
                dst.append(target[to])
        self._num_src = np.asarray(src, dtype=np.intp)
        fold = np.zeros((len(src), len(self.numeric_labels)), dtype=np.float32)
        fold[np.arange(len(src)), dst] = 1.0
        self._num_fold = fold

    # -- model ----------------------------------------------------------------------

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """``(3, 48, W)`` float32 model input, W = own width rounded up to 8."""
        h, w = crop.shape[:2]
        rw = min(MAX_WIDTH, max(1, math.ceil(REC_HEIGHT * w / h)))
        pw = max(MIN_WIDTH, -(-rw // 8) * 8)
        img = cv2.resize(crop, (rw, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((3, REC_HEIGHT, pw), dtype=np.float32)
        if img.ndim == 2:
            out[0, :, :rw] = img
            out[0, :, :rw] *= 2.0 / 255.0
            out[0, :, :rw] -= 1.0
            out[1] = out[0]
            out[2] = out[0]
        else:
            if img.shape[2] == 4:
                img = img[:, :, :3]
            out[:, :, :rw] = img.transpose(2, 0, 1)
            out[:, :, :rw] *= 2.0 / 255.0
            out[:, :, :rw] -= 1.0
        return out

    def probabilities(self, crops: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """Raw ``(T, C)`` softmax matrices, one per crop (None for blank crops).

        Column 0 is the CTC blank; column ``i`` is ``self.labels[i]``. Narrow crops
        whose padded width is identical run together in small batches (same
        results as one by one, fewer session calls).
        """
        out: list[np.ndarray | None] = [None] * len(crops)
        groups: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, crop in enumerate(crops):
            if is_blank(crop):
                continue
            x = self.preprocess(crop)
            groups.setdefault(x.shape[2], []).append((i, x))
        for width, items in groups.items():
            step = BATCH_SIZE if width <= BATCH_MAX_WIDTH else 1
            for b in range(0, len(items), step):
                chunk = items[b : b + step]
                batch = np.stack([x for _, x in chunk]) if len(chunk) > 1 else chunk[0][1][None]
                preds = self.session.run(None, {self._input: batch})[0]
                for (i, _), p in zip(chunk, preds, strict=True):
                    out[i] = p
        return out

    # -- decoding -------------------------------------------------------------------

    def decode(self, probs: np.ndarray, numeric: bool = False) -> Reading:
        """Turn one probability matrix into a Reading (see :func:`ctc_decode`).

        ``numeric``: decode with the full alphabet first; a note with other CJK
        characters (``22（其中修订16件）``, at least one read with probability
        >= ``NOTE_CJK_MIN_PROB``) keeps that reading (look-alikes mapped);
        otherwise re-decode over blank + ``0-9 . , - — － /`` + ``元万无`` with the
        look-alikes' probability folded in (O→0, l→1, 一→—, full-width digits ...)
        and the rows renormalised over that set.
        """
        full = ctc_decode(probs, self.labels)
        if not numeric:
            return self._penalise_dropped(full, probs, self.labels, self._space_idx)
        if self._is_note(full):
            full = self._penalise_dropped(full, probs, self.labels, self._space_idx)
            text = normalize_numeric_text(full.text)
            if text == full.text:
                return full
            alts = [
                _merge_mapped(a, {a[0][0]: ch}) if a[0][0] != ch else a
                for a, ch in zip(full.alternatives, text, strict=True)
            ]
            return Reading(text=text, confidence=full.confidence, alternatives=alts,
                           insertions=full.insertions)
        sub = self.numeric_probabilities(probs)
        reading = ctc_decode(sub, self.numeric_labels)
        if not reading.text:
            # Renormalising inflates the blank where the model saw something outside
            # the numeric alphabet; judge "empty" on the unmasked probabilities.
            reading.confidence = min(reading.confidence, float(probs[:, 0].min()))
            return reading
        return self._penalise_dropped(reading, sub, self.numeric_labels)

    @staticmethod
    def _penalise_dropped(
        reading: Reading, probs: np.ndarray, labels: Sequence[str], ignore: Sequence[int] = ()
    ) -> Reading:
        """Cap confidence at 1 - p(strongest possibly dropped character).

        Greedy CTC can lose a character to the blank ("5567.85" -> "556765" with
        every emitted digit at p > 0.9); the gap frame then still shows the lost
        character at p ~ 0.3-0.5, which this turns into a weak cell.
        """
        if not (DROPPED_CHAR_PENALTY and reading.text):
            return reading
        cands = dropped_char_candidates(probs, labels, min_prob=0.01, ignore=ignore)
        if cands:
            reading.confidence = min(reading.confidence, 1.0 - max(p for _, _, p in cands))
            reading.insertions = [(i, ch, round(float(p), 4)) for i, ch, p in cands]
        return reading

    def numeric_probabilities(self, probs: np.ndarray) -> np.ndarray:
        """``(T, len(numeric_labels))``: look-alikes folded in, rows renormalised."""
        sub = probs[:, self._num_src] @ self._num_fold
        total = sub.sum(axis=1, keepdims=True)
        np.maximum(total, 1e-12, out=total)
        sub /= total
        return sub

    @staticmethod
    def _is_note(full: Reading) -> bool:
        """A numeric cell that plainly holds words: a confidently read foreign CJK char.

        Weak CJK guesses (noise on a blurred digit read as 卷 at p=0.07) do not count,
        so a degraded number still gets the numeric re-decode.
        """
        if not has_foreign_cjk(full.text):
            return False
        return any(
            has_foreign_cjk(ch) and alt[0][1] >= NOTE_CJK_MIN_PROB
            for ch, alt in zip(full.text, full.alternatives, strict=True)
        )

    def recognize(self, crops: list[np.ndarray], numeric: bool = False) -> list[Reading]:
        """Read each single-line crop; blank crops give ``Reading.empty()`` unread."""
        return [
            Reading.empty() if p is None else self.decode(p, numeric=numeric)
            for p in self.probabilities(crops)
        ]

    def dropped_candidates(
        self, probs: np.ndarray, min_prob: float = 0.05, numeric: bool = False
    ) -> list[tuple[int, str, float]]:
        """:func:`dropped_char_candidates` for a matrix from :meth:`probabilities`.

        ``numeric=True`` looks over the numeric alphabet, matching the positions of
        a numeric-mode reading that was re-decoded (not one kept as a note).
        """
        if numeric:
            return dropped_char_candidates(
                self.numeric_probabilities(probs), self.numeric_labels, min_prob
            )
        return dropped_char_candidates(probs, self.labels, min_prob, self._space_idx)

    def __repr__(self) -> str:
        return (f"RapidRecognizer(model={self.model_path.name!r}, threads={self.threads}, "
                f"int8_output={self.int8_output})")
