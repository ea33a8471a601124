"""The 0/180 text-direction classifier."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tallyscan.ocr.orientation import (
    TextOrientationClassifier,
    get_orientation_classifier,
)


@pytest.fixture(scope="module")
def clf() -> TextOrientationClassifier:
    return get_orientation_classifier()


@pytest.mark.parametrize(
    "text", ["本年新收政府信息公开申请数量", "三、收到和处理政府信息公开申请情况", "7730.28"]
)
def test_upright_and_upside_down(clf, render, text):
    up = render(text)
    down = cv2.rotate(up, cv2.ROTATE_180)
    (a_up, p_up), (a_down, p_down) = clf.classify([up, down])
    assert a_up == 0 and p_up > 0.9
    assert a_down == 180 and p_down > 0.9


def test_shapes_and_bgr(clf, render):
    up = render("政府信息公开")
    assert clf.preprocess(up).shape == (3, 48, 192)
    bgr = cv2.cvtColor(up, cv2.COLOR_GRAY2BGR)
    assert clf.classify([bgr])[0][0] == 0
    probs = clf.probabilities([up, bgr])
    assert probs.shape == (2, 2)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert clf.classify([]) == []
    assert get_orientation_classifier() is clf
