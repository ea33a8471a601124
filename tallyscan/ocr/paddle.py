"""Optional adapter for users who have PaddleOCR and its models installed locally.

Never imported by default: :func:`tallyscan.ocr.get_engine` imports this module
only when ``"paddleocr"`` is asked for, and ``paddleocr`` itself is imported
lazily inside the constructor.

Honest status: this adapter is *best effort and untested here* -- paddleocr
(and paddlepaddle) are not installed in tallyscan's development environment or
CI, so only the "not installed" / "no model dir" paths are covered by tests. It
targets PaddleOCR 3.x's recognition-only ``TextRecognition`` module and falls back
to 2.x's ``PaddleOCR(det=False)`` API. Differences from the rapidocr engine:

* paddleocr returns only a line text and a line score, not the per-frame matrix,
  so ``alternatives`` holds just the read character per position (with the line
  score as its probability) and ``confidence`` is the line score;
* ``numeric=True`` only maps look-alike characters (full-width digits, ``一``
  alone -> ``—``, ``O``/``l`` next to digits); there is no masked re-decoding.

Configuration: ``TALLYSCAN_PADDLE_MODEL_DIR`` must point at an exported PP-OCR
recognition model directory (e.g. ``PP-OCRv5_server_rec_infer``); the model name
is read from its ``inference.yml`` or from ``TALLYSCAN_PADDLE_MODEL_NAME``. The
adapter never downloads models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tallyscan.exceptions import EngineUnavailable
from tallyscan.model import Reading
from tallyscan.ocr.base import has_foreign_cjk, is_blank, normalize_numeric_text, to_bgr

MODEL_DIR_ENV = "TALLYSCAN_PADDLE_MODEL_DIR"
MODEL_NAME_ENV = "TALLYSCAN_PADDLE_MODEL_NAME"
INSTALL_HINT = "pip install 'tallyscan[paddle]' and put the PP-OCR models in " + MODEL_DIR_ENV


def _model_name(model_dir: Path) -> str | None:
    name = os.environ.get(MODEL_NAME_ENV)
    if name:
        return name
    for fn in ("inference.yml", "inference.yaml"):
        p = model_dir / fn
        if p.is_file():
            try:
                import yaml

                cfg = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
                name = (cfg.get("Global") or {}).get("model_name")
                if name:
                    return str(name)
            except Exception:  # noqa: BLE001 - fall through to no name
                pass
    return None


class PaddleRecognizer:
    """PaddleOCR recognition-only adapter (best effort; see module docstring)."""

    name = "paddleocr"

    def __init__(self, threads: int = 1, model_dir: str | os.PathLike[str] | None = None) -> None:
        try:
            import paddleocr  # noqa: F401 - presence check, heavy import kept lazy
        except ImportError as e:
            raise EngineUnavailable(f"paddleocr is not installed; {INSTALL_HINT}") from e
        except Exception as e:  # noqa: BLE001 - broken paddle installs raise anything
            raise EngineUnavailable(f"paddleocr failed to import ({e}); {INSTALL_HINT}") from e
        raw_dir = model_dir or os.environ.get(MODEL_DIR_ENV)
        if not raw_dir:
            raise EngineUnavailable(
                f"paddleocr is installed but {MODEL_DIR_ENV} is not set; {INSTALL_HINT}"
            )
        self.model_dir = Path(raw_dir)
        if not self.model_dir.is_dir():
            raise EngineUnavailable(
                f"{MODEL_DIR_ENV}={self.model_dir} is not a directory; {INSTALL_HINT}"
            )
        self.threads = max(1, int(threads))
        self._api, self._model = self._load()

    def _load(self) -> tuple[str, Any]:
        import paddleocr

        name = _model_name(self.model_dir)
        if hasattr(paddleocr, "TextRecognition"):  # PaddleOCR 3.x
            kwargs: dict[str, Any] = {"model_dir": str(self.model_dir), "cpu_threads": self.threads}
            if name:
                kwargs["model_name"] = name
            try:
                return "v3", paddleocr.TextRecognition(**kwargs)
            except TypeError:  # older 3.x without cpu_threads
                kwargs.pop("cpu_threads")
                return "v3", paddleocr.TextRecognition(**kwargs)
            except Exception as e:  # noqa: BLE001
                raise EngineUnavailable(
                    f"cannot load paddleocr model from {self.model_dir}: {e}"
                ) from e
        try:  # PaddleOCR 2.x
            return "v2", paddleocr.PaddleOCR(
                det=False,
                use_angle_cls=False,
                rec_model_dir=str(self.model_dir),
                cpu_threads=self.threads,
                show_log=False,
            )
        except Exception as e:  # noqa: BLE001
            raise EngineUnavailable(
                f"cannot load paddleocr model from {self.model_dir}: {e}"
            ) from e

    def _read(self, imgs: list[np.ndarray]) -> list[tuple[str, float]]:
        if self._api == "v3":
            out = []
            for res in self._model.predict(input=imgs, batch_size=min(8, len(imgs))):
                out.append((str(res["rec_text"]), float(res["rec_score"])))
            return out
        out = []
        for img in imgs:
            res = self._model.ocr(img, det=False, cls=False)
            line = res[0][0] if res and res[0] else ("", 0.0)
            out.append((str(line[0]), float(line[1])))
        return out

    def recognize(self, crops: list[np.ndarray], numeric: bool = False) -> list[Reading]:
        readings: list[Reading] = [Reading.empty() for _ in crops]
        todo = [i for i, c in enumerate(crops) if not is_blank(c)]
        if not todo:
            return readings
        for i, (text, score) in zip(
            todo, self._read([to_bgr(crops[i]) for i in todo]), strict=True
        ):
            if numeric and not has_foreign_cjk(text):
                text = normalize_numeric_text(text.replace(" ", ""))
            elif numeric:
                text = normalize_numeric_text(text)
            score = min(1.0, max(0.0, score))
            readings[i] = Reading(
                text=text, confidence=score, alternatives=[[(ch, score)] for ch in text]
            )
        return readings
