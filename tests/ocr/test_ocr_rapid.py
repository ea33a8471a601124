"""The rapidocr ONNX recogniser on crops rendered with PyMuPDF."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tallyscan.model import Reading
from tallyscan.ocr import get_engine
from tallyscan.ocr.rapid import RapidRecognizer, find_rec_model

GOLDEN = Path(__file__).parent / "golden" / "rendered_readings.json"
LABEL = "本年新收政府信息公开申请数量"


def degrade(img: np.ndarray, sigma: float, noise: float, scale: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = img.astype(np.float32)
    if scale != 1.0:
        x = cv2.resize(x, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x = cv2.GaussianBlur(x, (0, 0), sigma) + rng.normal(0.0, noise, x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


def check_reading(r: Reading) -> None:
    assert 0.0 <= r.confidence <= 1.0
    assert len(r.alternatives) == len(r.text)
    for ch, alts in zip(r.text, r.alternatives, strict=True):
        assert 1 <= len(alts) <= 5
        assert alts[0][0] == ch
        ps = [p for _, p in alts]
        assert ps == sorted(ps, reverse=True)
        assert sum(ps) <= 1.0 + 1e-4
        assert all(0.0 <= p <= 1.0 + 1e-6 for p in ps)
    if r.text:
        # the weakest character, possibly lowered further for a dropped character
        assert r.confidence <= min(a[0][1] for a in r.alternatives) + 1e-6


def test_engine_is_cached(engine):
    assert get_engine() is engine
    assert get_engine("rapidocr", threads=1) is engine
    assert isinstance(engine, RapidRecognizer)
    assert engine.name == "rapidocr"
    assert engine.model_path == find_rec_model()


def test_labels_follow_rapidocr(engine):
    assert engine.labels[0] == ""  # CTC blank
    assert engine.labels[-1] == " "  # rapidocr appends a space
    n_out = engine.session.get_outputs()[0].shape[-1]
    assert len(engine.labels) == n_out


@pytest.mark.parametrize("font", ["helv", "china-s"])
@pytest.mark.parametrize("text", ["0", "7", "155", "7730.28", "1,234"])
def test_numbers_read_exactly(engine, render, text, font):
    (r,) = engine.recognize([render(text, font)], numeric=True)
    assert r.text == text
    check_reading(r)
    assert r.confidence > 0.9


def test_dash_reads_as_dash(engine, render):
    # helv has no em dash glyph in PyMuPDF's base-14 encoding; china-s does.
    (r,) = engine.recognize([render("—", "china-s")], numeric=True)
    assert r.text == "—"
    (full,) = engine.recognize([render("—", "china-s")], numeric=False)
    assert full.text in {"一", "—"}  # the full alphabet calls it CJK "one"


def test_chinese_label_read_exactly(engine, render):
    (r,) = engine.recognize([render(LABEL)], numeric=False)
    assert r.text == LABEL
    check_reading(r)
    assert len(r.alternatives) == 14


def test_numeric_mode_keeps_notes(engine, render):
    (r,) = engine.recognize([render("22（其中修订16件）")], numeric=True)
    assert r.text == "22（其中修订16件）"
    check_reading(r)


def test_numeric_mode_units_and_none(engine, render):
    assert [r.text for r in engine.recognize([render("无"), render("12.5万元")], numeric=True)] == [
        "无",
        "12.5万元",
    ]


def test_numeric_alternatives_stay_in_numeric_alphabet(engine, render):
    (r,) = engine.recognize([render("7730.28", "helv")], numeric=True)
    allowed = set(engine.numeric_labels)
    for alts in r.alternatives:
        assert {c for c, _ in alts} <= allowed


def test_blank_crop_is_empty_without_running_model(engine, monkeypatch):
    class Boom:
        def run(self, *a, **k):
            raise AssertionError("model must not run on a blank crop")

    monkeypatch.setattr(engine, "session", Boom())
    blank = np.full((40, 120), 255, np.uint8)
    speck = blank.copy()
    speck[5, 5] = 0
    readings = engine.recognize([blank, speck, np.zeros((0, 0), np.uint8)], numeric=True)
    assert readings == [Reading.empty()] * 3


def test_bgr_and_gray_agree(engine, render):
    gray = render("2019", "helv")
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    a, b = engine.recognize([gray, bgr], numeric=True)
    assert a.text == b.text == "2019"
    assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_batched_equals_one_by_one(engine, render):
    crops = [render(t, "helv") for t in ["3", "5", "8", "0", "155", "162", "7730.28"]]
    crops.append(np.full((30, 30), 255, np.uint8))
    together = engine.recognize(crops, numeric=True)
    alone = [engine.recognize([c], numeric=True)[0] for c in crops]
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.text for r in together] == ["3", "5", "8", "0", "155", "162", "7730.28", ""]
    for a, b in zip(together, alone, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-3)


@pytest.mark.parametrize(
    ("text", "sigma", "noise", "scale"),
    [
        ("3", 2.5, 50, 1.0),
        ("8", 2.5, 50, 1.0),
        ("0", 1.0, 40, 0.5),
        ("5", 1.0, 40, 0.5),
        ("155", 2.5, 50, 1.0),
        ("2019", 1.0, 40, 0.5),
    ],
)
def test_degraded_digits_keep_truth_in_top5(engine, render, text, sigma, noise, scale):
    crop = degrade(render(text, "helv"), sigma, noise, scale)
    (r,) = engine.recognize([crop], numeric=True)
    check_reading(r)
    assert len(r.alternatives) == len(text)
    for ch, alts in zip(text, r.alternatives, strict=True):
        assert ch in [c for c, _ in alts]


def test_golden_readings(engine, render):
    cases = json.loads(GOLDEN.read_text(encoding="utf-8"))["cases"]
    crops = [render(c["text"], c["font"]) for c in cases]
    got_num = engine.recognize(crops, numeric=True)
    got_full = engine.recognize(crops, numeric=False)
    for case, rn, rf in zip(cases, got_num, got_full, strict=True):
        r = rn if case["numeric"] else rf
        assert r.text == case["expected"], case
        assert r.confidence >= case["min_confidence"], (case, r.confidence)
        check_reading(r)


def test_probabilities_and_dropped_candidates_api(engine, render):
    (p,) = engine.probabilities([render("155", "helv")])
    assert p is not None and p.ndim == 2 and p.shape[1] == len(engine.labels)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-3)
    assert engine.decode(p, numeric=True).text == "155"
    for pos, ch, prob in engine.dropped_candidates(p, min_prob=0.0):
        assert 0 <= pos <= 3 and ch and 0.0 <= prob <= 1.0
