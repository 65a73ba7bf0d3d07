"""Windows scoring used by `cityops evaluate detectors`: null = 0, perfect = 100, early beats late, FPs cost."""

from __future__ import annotations

import numpy as np

from cityops.evaluation.detectors_scoring import Tally, score_series, windows_for

TS = np.arange(1000, dtype=float)
LABELS = [(400.0, 400.0), (800.0, 800.0)]


def _score(det_idx: list[int]) -> Tally:
    w = windows_for(TS, LABELS)
    mask = np.zeros(len(TS), bool)
    mask[det_idx] = True
    return score_series(TS, mask, w)


def test_windows_are_centred_and_sized_like_nab() -> None:
    w = windows_for(TS, LABELS)
    # 10% of the span shared by two labels: 50 readings each, centred on the label
    assert np.allclose(w.starts, [400 - 24.975, 800 - 24.975]) and np.allclose(w.ends, [400 + 24.975, 800 + 24.975])
    assert w.probation_end == 0.15 * 999


def test_null_is_zero_perfect_is_hundred() -> None:
    assert _score([]).normalised == 0.0
    perfect = _score([int(np.ceil(400 - 24.975)), int(np.ceil(800 - 24.975))])
    assert perfect.normalised > 99.0 and perfect.tp == 2 and perfect.fn == 0


def test_early_detection_earns_more_than_late_and_only_first_counts() -> None:
    early, late = _score([380, 800]), _score([420, 800])
    assert early.raw > late.raw
    assert _score([380, 381, 382, 800]).raw == early.raw  # later detections inside a window are free


def test_false_positives_cost_less_right_after_a_window() -> None:
    base = _score([380, 790])
    far = _score([380, 790, 650])
    near = _score([380, 790, 430])
    assert far.fp == near.fp == 1
    assert base.raw > near.raw > far.raw
    assert _score([200]).normalised < 0.0  # a lone false alarm is worse than detecting nothing


def test_detections_in_probation_are_ignored() -> None:
    assert _score([10, 20, 30]).normalised == 0.0
