"""The recogniser's int8-output copy: which layer, the cache, the fallbacks, and
that it reads what the float model reads."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tallyscan.ocr import quantize
from tallyscan.ocr.rapid import RapidRecognizer, find_rec_model


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The int8 copy, made once into a fresh cache folder."""
    cache = tmp_path_factory.mktemp("models")
    return cache, quantize.int8_output_model(find_rec_model(), cache)


def test_output_layer_is_the_character_classifier():
    import onnx

    model = onnx.load(str(find_rec_model()))
    name = quantize.output_layer(model)
    node = next(n for n in model.graph.node if n.name == name)
    weights = {t.name: t for t in model.graph.initializer}
    (w,) = [weights[i] for i in node.input if i in weights]
    labels = RapidRecognizer(threads=1).labels
    assert list(w.dims)[1] == len(labels)  # a score for each character, blank and space included


def test_copy_is_cached_and_reused(made, monkeypatch):
    cache, path = made
    assert path.parent == cache and path.is_file()
    assert not list(cache.glob("*.part"))  # written aside, then renamed

    def fail(src, dst):
        raise AssertionError("quantised again although cached")

    monkeypatch.setattr(quantize, "_quantise", fail)
    assert quantize.int8_output_model(find_rec_model(), cache) == path


def test_unwritable_cache_gives_the_model_in_memory(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    got = quantize.int8_output_model(find_rec_model(), blocker / "models")
    assert isinstance(got, bytes) and len(got) > 1_000_000
    engine = RapidRecognizer(threads=1, int8_output=True, cache_dir=blocker / "models")
    assert engine.int8_output


def test_without_onnx_the_float_model_runs(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    assert quantize.int8_output_model(find_rec_model(), tmp_path) is None
    engine = RapidRecognizer(threads=1, int8_output=True, cache_dir=tmp_path)
    assert not engine.int8_output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text, numeric", [
    ("0", True), ("1,234", True), ("7730.28", True), ("—", True), ("22（其中修订16件）", True),
    ("1.属于国家秘密", False), ("本年新收政府信息公开申请数量", False),
])
def test_int8_copy_reads_as_the_float_model(made, render, text, numeric):
    cache, _ = made
    float_engine = RapidRecognizer(threads=1)
    int8_engine = RapidRecognizer(threads=1, int8_output=True, cache_dir=cache)
    assert int8_engine.int8_output and not float_engine.int8_output
    crop = render(text)
    a = float_engine.recognize([crop], numeric=numeric)[0]
    b = int8_engine.recognize([crop], numeric=numeric)[0]
    assert b.text == a.text
    assert abs(b.confidence - a.confidence) < 0.02
    pa = float_engine.probabilities([crop])[0]
    pb = int8_engine.probabilities([crop])[0]
    assert pa.shape == pb.shape
    assert np.abs(pa - pb).max() < 0.05


def _make_copy(args):
    src, cache = args
    got = quantize.int8_output_model(src, cache)
    return str(got) if got is not None else None


def test_workers_starting_together_each_get_the_copy_and_leave_the_source_alone(tmp_path):
    """Two processes making the copy at once (workers of a cold cache): both
    get it, and nothing is written beside the source model (the quantiser,
    given a path, writes a shape-inferred copy there under a fixed name, and
    one process then read the other's half-written file)."""
    import multiprocessing
    import shutil

    source_dir = tmp_path / "wheel"
    source_dir.mkdir()
    src = Path(shutil.copy(find_rec_model(), source_dir))
    caches = [tmp_path / "shared-cache"] * 2
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map(_make_copy, [(src, c) for c in caches])
    assert got[0] is not None and got[0] == got[1]
    assert sorted(p.name for p in source_dir.iterdir()) == [src.name]
    assert not list((tmp_path / "shared-cache").glob("*.part"))


def test_copies_of_earlier_versions_are_deleted_once_stale(tmp_path, monkeypatch):
    """A new model or runtime version makes a new copy; the copies of earlier
    versions go once no worker can still be loading them (a week old)."""
    import os
    import time

    src = find_rec_model()
    stale = tmp_path / f"{src.stem}.int8-output.0000000000000000.onnx"
    recent = tmp_path / f"{src.stem}.int8-output.1111111111111111.onnx"
    other = tmp_path / "another-model.int8-output.0000000000000000.onnx"
    for p in (stale, recent, other):
        p.write_bytes(b"old copy")
    week_ago = time.time() - quantize.STALE_COPY_AGE_S - 60
    os.utime(stale, (week_ago, week_ago))
    os.utime(other, (week_ago, week_ago))
    monkeypatch.setattr(quantize, "_quantise", lambda s, d: Path(d).write_bytes(b"new copy"))
    got = quantize.int8_output_model(src, tmp_path)
    assert got.read_bytes() == b"new copy"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([got.name, recent.name, other.name])
