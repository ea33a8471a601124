"""Upright vs upside-down text lines: PaddleOCR's 0/180 direction classifier.

Runs ``ch_ppocr_mobile_v2.0_cls_mobile.onnx`` from the rapidocr wheel with
onnxruntime, with rapidocr's own ``ch_ppocr_cls`` preprocessing: BGR line resized
to height 48 keeping its aspect ratio (squeezed when wider than 192), scaled to
``(x / 255 - 0.5) / 0.5``, zero-padded on the right to 3x48x192. The model's two
outputs are softmax probabilities for labels ``0`` and ``180``.

The page-orientation step feeds it a handful of line crops and votes; a single
line is often ambiguous (digits such as ``0`` or ``8`` look the same both ways),
so callers should weigh the returned probabilities rather than trust one line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from tallyscan.ocr.base import to_bgr
from tallyscan.ocr.rapid import find_cls_model, make_session

CLS_SHAPE = (3, 48, 192)
LABELS = (0, 180)
BATCH_SIZE = 16


class TextOrientationClassifier:
    """Tell upright (0) from upside-down (180) single-line text crops."""

    def __init__(self, threads: int = 1, model_path: str | os.PathLike[str] | None = None) -> None:
        self.model_path = Path(model_path) if model_path else find_cls_model()
        self.session = make_session(self.model_path, threads)
        self._input = self.session.get_inputs()[0].name

    @staticmethod
    def preprocess(crop: np.ndarray) -> np.ndarray:
        """``(3, 48, 192)`` float32 input, exactly as rapidocr's TextClassifier."""
        c, h_out, w_out = CLS_SHAPE
        img = to_bgr(crop)
        h, w = img.shape[:2]
        rw = min(w_out, math.ceil(h_out * w / float(h)))
        resized = cv2.resize(img, (max(1, rw), h_out), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((c, h_out, w_out), dtype=np.float32)
        out[:, :, : resized.shape[1]] = resized.transpose(2, 0, 1).astype(np.float32) / 255.0
        out[:, :, : resized.shape[1]] -= 0.5
        out[:, :, : resized.shape[1]] /= 0.5
        return out

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """``(N, 2)`` probabilities of [upright, upside-down] per crop."""
        if not crops:
            return np.zeros((0, 2), dtype=np.float32)
        batch = np.stack([self.preprocess(c) for c in crops])
        outs = [
            self.session.run(None, {self._input: batch[i : i + BATCH_SIZE]})[0]
            for i in range(0, len(batch), BATCH_SIZE)
        ]
        return np.concatenate(outs).astype(np.float32)

    def classify(self, crops: list[np.ndarray]) -> list[tuple[int, float]]:
        """``(angle, probability)`` per crop; angle is 0 or 180, prob of that angle."""
        probs = self.probabilities(crops)
        best = probs.argmax(axis=1)
        return [(LABELS[int(i)], float(p[i])) for i, p in zip(best, probs, strict=True)]


_classifiers: dict[tuple[int, int], TextOrientationClassifier] = {}


def get_orientation_classifier(threads: int = 1) -> TextOrientationClassifier:
    """A per-process cached classifier (the model loads once)."""
    key = (os.getpid(), max(1, int(threads)))
    clf = _classifiers.get(key)
    if clf is None:
        clf = _classifiers[key] = TextOrientationClassifier(threads=key[1])
    return clf
