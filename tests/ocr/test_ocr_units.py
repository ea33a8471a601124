"""Model-free tests: CTC decoding, look-alike mapping, blank detection, registry."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from tallyscan.exceptions import EngineUnavailable
from tallyscan.ocr import get_engine
from tallyscan.ocr.base import OcrEngine, has_foreign_cjk, is_blank, normalize_numeric_text
from tallyscan.ocr.rapid import RapidRecognizer, ctc_decode, dropped_char_candidates

LABELS = ["", "a", "b", "c"]


def frames(*rows: list[float]) -> np.ndarray:
    p = np.asarray(rows, dtype=np.float32)
    return p / p.sum(axis=1, keepdims=True)


def test_ctc_collapses_repeats_and_keeps_blank_separated_doubles():
    p = frames(
        [0.1, 0.8, 0.05, 0.05],  # a
        [0.1, 0.7, 0.1, 0.1],  # a (repeat)
        [0.9, 0.05, 0.03, 0.02],  # blank
        [0.2, 0.6, 0.1, 0.1],  # a again -> second a
        [0.1, 0.1, 0.75, 0.05],  # b
    )
    r = ctc_decode(p, LABELS)
    assert r.text == "aab"
    assert len(r.alternatives) == 3
    # best frame of the first run is frame 0 (0.8 > 0.7)
    assert r.alternatives[0][0] == ("a", pytest.approx(0.8))
    assert r.confidence == pytest.approx(0.6)  # the weakest character
    for alts in r.alternatives:
        ps = [p for _, p in alts]
        assert ps == sorted(ps, reverse=True)
        assert sum(ps) <= 1.0 + 1e-6
        assert len(alts) == 4  # top-5 capped by the 4 labels, blank shown as ""
        assert "" in [c for c, _ in alts]


def test_ctc_empty_reading_confidence_is_weakest_blank_frame():
    p = frames([0.9, 0.05, 0.03, 0.02], [0.7, 0.1, 0.1, 0.1])
    r = ctc_decode(p, LABELS)
    assert r.text == "" and r.alternatives == []
    assert r.confidence == pytest.approx(0.7)


def test_dropped_char_candidates_reports_strong_non_blank_in_gaps():
    p = frames(
        [0.1, 0.8, 0.05, 0.05],  # a
        [0.55, 0.05, 0.05, 0.35],  # blank wins, but c is strong: a dropped c?
        [0.1, 0.1, 0.75, 0.05],  # b
    )
    assert ctc_decode(p, LABELS).text == "ab"
    cands = dropped_char_candidates(p, LABELS, min_prob=0.2)
    assert cands == [(1, "c", pytest.approx(0.35))]


def test_dropped_candidate_caps_confidence_but_spill_over_does_not():
    p = frames(
        [0.05, 0.9, 0.03, 0.02],  # a
        [0.6, 0.02, 0.03, 0.35],  # blank, c lurking: a dropped c?
        [0.05, 0.02, 0.9, 0.03],  # b
        [0.55, 0.02, 0.4, 0.03],  # blank with b spilling over from the frame before
    )
    r = RapidRecognizer._penalise_dropped(ctc_decode(p, LABELS), p, LABELS)
    assert r.text == "ab"
    assert r.confidence == pytest.approx(1 - 0.35, abs=1e-6)
    assert dropped_char_candidates(p, LABELS, min_prob=0.01, ignore=[3]) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１２３", "123"),
        ("一", "—"),
        ("O", "0"),
        ("1O5", "105"),
        ("l2", "12"),
        ("|", "1"),
        ("22（其中修订16件）", "22（其中修订16件）"),
        ("Office", "Office"),  # letters away from digits stay letters
        ("７７３０．２８", "7730.28"),
    ],
)
def test_normalize_numeric_text(raw, expected):
    assert normalize_numeric_text(raw) == expected


def test_foreign_cjk():
    assert not has_foreign_cjk("12.5万元")
    assert not has_foreign_cjk("无")
    assert not has_foreign_cjk("一")
    assert has_foreign_cjk("22（其中修订16件）")


def test_is_blank():
    assert is_blank(np.full((30, 60), 255, np.uint8))
    assert is_blank(np.full((30, 60, 3), 240, np.uint8))
    assert is_blank(np.zeros((0, 10), np.uint8))
    specks = np.full((30, 60), 250, np.uint8)
    specks[3, 3] = 0
    assert is_blank(specks)
    faint = np.full((30, 60), 250, np.uint8)
    faint[10:20, 10:40] = 230  # 20 grey levels: scanner noise, not ink
    assert is_blank(faint)
    ink = np.full((30, 60), 250, np.uint8)
    ink[10:20, 20:23] = 20
    assert not is_blank(ink)
    dense = np.full((30, 60), 30, np.uint8)  # mostly-black bold crop is not blank
    dense[:, :8] = 250
    assert not is_blank(dense)


def test_unknown_engine_lists_choices():
    with pytest.raises(EngineUnavailable) as exc:
        get_engine("nope")
    assert "rapidocr" in str(exc.value) and "paddleocr" in str(exc.value)
    assert exc.value.code == "engine_unavailable"


@pytest.mark.skipif(importlib.util.find_spec("paddleocr") is not None, reason="paddleocr installed")
def test_paddle_adapter_unavailable_without_paddleocr():
    from tallyscan.ocr.paddle import PaddleRecognizer

    with pytest.raises(EngineUnavailable) as exc:
        PaddleRecognizer()
    assert "pip install 'tallyscan[paddle]'" in str(exc.value)
    with pytest.raises(EngineUnavailable):
        get_engine("paddleocr")


def test_importing_ocr_does_not_load_paddle_or_onnxruntime():
    code = (
        "import sys, tallyscan.ocr; "
        "bad = [m for m in ('tallyscan.ocr.paddle', 'paddleocr', 'paddle', 'onnxruntime') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_missing_rapidocr_models_raise_engine_unavailable(monkeypatch, tmp_path):
    import tallyscan.ocr.rapid as rapid

    (tmp_path / "models").mkdir()
    monkeypatch.setattr(rapid, "rapidocr_package_dir", lambda: tmp_path)
    with pytest.raises(EngineUnavailable) as exc:
        rapid.find_rec_model()
    assert "pip install rapidocr" in str(exc.value)
    assert ".onnx" in str(exc.value)
    monkeypatch.setattr(rapid, "rapidocr_package_dir", lambda: None)
    with pytest.raises(EngineUnavailable):
        rapid.find_cls_model()


def test_protocol_is_runtime_checkable():
    class Dummy:
        name = "dummy"

        def recognize(self, crops, numeric=False):
            return []

    assert isinstance(Dummy(), OcrEngine)
