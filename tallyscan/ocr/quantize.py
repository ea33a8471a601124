"""The recogniser with its output layer in int8, made once from the wheel's model and cached.

The PP-OCR recogniser's last layer maps every frame (one per 8 input pixel
columns) to all ~18,700 characters of its alphabet: about 12% of the model's
time on one core. Dynamic int8 quantisation of that one matrix product
(int8 weights, activations quantised per call) cuts the model's time by about
9% on the devset's crops replayed alone (about 5% of OCR time in the
pipeline), and on the devset and two held-out sets no cell was read worse
(BENCHMARKS.md, session 17). The rest of the network stays float: int8
convolutions cost accuracy (BENCHMARKS.md, "static int8").

The copy is written next to the store's data (``<data dir>/models``) under a
name holding a digest of the source model and the quantiser's version, so a
new rapidocr or onnxruntime makes a new copy; where that folder cannot be
written, the copy is made in memory on each start (about a second).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def output_layer(model) -> str | None:
    """Name of the model's largest weight matrix product: the per-frame
    character classifier at its end (120 x 18,710 in PP-OCRv6 small)."""
    weights = {t.name: t for t in model.graph.initializer}
    best: tuple[int, str] | None = None
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        for name in node.input:
            w = weights.get(name)
            if w is not None and len(w.dims) == 2:
                size = int(w.dims[0]) * int(w.dims[1])
                if best is None or size > best[0]:
                    best = (size, node.name)
    return best[1] if best else None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    import onnxruntime

    h.update(onnxruntime.__version__.encode())
    return h.hexdigest()[:16]


def _quantise(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    layer = output_layer(model)
    if layer is None:
        raise ValueError(f"{src.name} has no matrix product with weights to quantise")
    # The model itself, not its path: given a path, the quantiser writes its
    # shape-inferred copy next to the source (inside the rapidocr package,
    # under one fixed name that processes starting together overwrite).
    quantize_dynamic(model, str(dst), nodes_to_quantize=[layer], weight_type=QuantType.QInt8)


def int8_output_model(src: Path, cache_dir: Path | None) -> Path | bytes | None:
    """The model at ``src`` with its output layer in int8: a cached file's path,
    the model's bytes (no writable cache), or None (it cannot be made here:
    the ``onnx`` package is missing or the model is not as expected; the
    caller then uses ``src`` itself)."""
    try:
        import onnx  # noqa: F401
        from onnxruntime.quantization import quantize_dynamic  # noqa: F401
    except ImportError as exc:
        log.warning("cannot make the int8 recogniser (%s); using the float model", exc)
        return None
    try:
        name = f"{src.stem}.int8-output.{_digest(src)}.onnx"
    except OSError as exc:
        log.warning("cannot read %s (%s); using it as it is", src, exc)
        return None
    try:
        if cache_dir is not None:
            cached = cache_dir / name
            if cached.is_file():
                return cached
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
                _quantise_into(src, cache_dir, name)
                _drop_stale_copies(cache_dir, src.stem, keep=name)
                return cached
            except OSError as exc:
                log.info("cannot cache the int8 recogniser in %s (%s); making it in memory", cache_dir, exc)
        with tempfile.TemporaryDirectory() as tmpdir:
            return _quantise_into(src, Path(tmpdir), name).read_bytes()
    except Exception as exc:  # noqa: BLE001 - a model the quantiser does not understand
        log.warning("cannot make the int8 recogniser from %s (%s); using the float model", src, exc)
        return None


def _quantise_into(src: Path, folder: Path, name: str) -> Path:
    """Quantise ``src`` to ``folder/name``, written aside and renamed: workers
    starting together each write their own copy, and none reads a half-written one."""
    fd, tmp = tempfile.mkstemp(prefix=name, suffix=".part", dir=folder)
    os.close(fd)
    try:
        _quantise(src, Path(tmp))
        os.replace(tmp, folder / name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return folder / name


# A copy made for another model or runtime version is deleted once this old:
# a worker still on that version (during an upgrade) has long since loaded it.
STALE_COPY_AGE_S = 7 * 24 * 3600


def _drop_stale_copies(cache_dir: Path, stem: str, keep: str) -> None:
    """Delete the copies of earlier model or runtime versions (14 MB each)."""
    now = time.time()
    for old in cache_dir.glob(f"{stem}.int8-output.*.onnx"):
        try:
            if old.name != keep and now - old.stat().st_mtime > STALE_COPY_AGE_S:
                old.unlink()
        except OSError:  # another worker took it first, or it cannot be removed: harmless
            pass
