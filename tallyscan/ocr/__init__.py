"""OCR engines behind one small interface.

>>> engine = get_engine()                      # rapidocr's ONNX model, 1 thread
>>> engine.recognize([crop], numeric=True)     # -> [Reading(text="155", ...)]

Engines are cached per process (per ``(name, threads)``), so models load once;
a forked worker builds its own rather than reusing its parent's session.
Heavy modules (onnxruntime, paddleocr) are only imported when an engine is built.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from tallyscan.exceptions import EngineUnavailable
from tallyscan.ocr.base import OcrEngine

__all__ = ["ENGINES", "EngineUnavailable", "OcrEngine", "clear_engine_cache", "get_engine"]


def _rapidocr(threads: int) -> OcrEngine:
    from pathlib import Path

    from tallyscan.ocr.rapid import RapidRecognizer
    from tallyscan.settings import Settings

    settings = Settings.from_env()
    return RapidRecognizer(threads=threads, int8_output=bool(settings.ocr_int8_output),
                           cache_dir=Path(settings.data_path) / "models")


def _paddleocr(threads: int) -> OcrEngine:
    from tallyscan.ocr.paddle import PaddleRecognizer

    return PaddleRecognizer(threads=threads)


ENGINES: dict[str, Callable[[int], OcrEngine]] = {
    "rapidocr": _rapidocr,
    "paddleocr": _paddleocr,
}

_cache: dict[tuple[int, str, int], OcrEngine] = {}
_lock = threading.Lock()


def get_engine(name: str = "rapidocr", threads: int = 1) -> OcrEngine:
    """The named OCR engine, built once per process and ``threads`` setting.

    Raises EngineUnavailable for an unknown name (listing the choices) or when
    the engine cannot run here (package or model files missing).
    """
    key_name = (name or "").strip().lower()
    if key_name not in ENGINES:
        raise EngineUnavailable(
            f"unknown OCR engine {name!r}; choices: {', '.join(sorted(ENGINES))}"
        )
    threads = max(1, int(threads))
    key = (os.getpid(), key_name, threads)
    engine = _cache.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _cache.get(key)
        if engine is None:
            engine = ENGINES[key_name](threads)
            _cache[key] = engine
    return engine


def clear_engine_cache() -> None:
    """Forget every cached engine (tests; freeing model memory)."""
    with _lock:
        _cache.clear()
