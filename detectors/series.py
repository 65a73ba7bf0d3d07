"""One sensor's streaming anomaly detector on Python floats: `make_series_detector().score_one(t, v)`."""

from __future__ import annotations

import math
from typing import Any

from detectors import core
from detectors.explain import describe_fields


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan  # None or junk: a missing reading, never an exception


class SeriesDetector:
    """Causal, calibrated detector for one series (the scalar path of `detectors.core.step`)."""

    __slots__ = ("p", "_s", "_S", "_V", "_C")

    def __init__(self, params: core.Params | None = None) -> None:
        self.p = params or core.Params()
        self._s = core.INIT_ROW
        k = self.p.n_bins
        self._S = [0.0] * k
        self._V = [0.0] * k
        self._C = [0.0] * k

    def score_one(self, timestamp: float, value: float) -> float:
        """Anomaly score in [0, 1] of this reading, using only readings seen so far."""
        t = _as_float(timestamp)
        if not math.isfinite(t):
            t = self._s[2] if self._s[2] > -1e299 else 0.0  # the latest good time: no gap, no crash
        x = _as_float(value)
        fb0, fb1, u = core.bin_of(core.ScalarOps, t, self.p)
        b0, b1 = int(fb0), int(fb1)
        S, V, C = self._S, self._V, self._C
        self._s, (S[b0], S[b1], V[b0], V[b1], C[b0], C[b1]), score = core.step(
            core.ScalarOps, self.p, t, x, self._s, S[b0], S[b1], V[b0], V[b1], C[b0], C[b1], u,
            bool(self.p.episodes))
        return score

    def explain(self) -> dict:
        """Expected value, deviation in sigmas and anomaly type of the last reading."""
        return describe_fields(dict(zip(core.FIELDS, self._s)))


def make_series_detector(**kw: Any) -> SeriesDetector:
    """A fresh detector for one series; keyword arguments override `detectors.core.Params`."""
    return SeriesDetector(core.Params(**kw))
