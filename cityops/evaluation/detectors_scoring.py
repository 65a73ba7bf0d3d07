"""Windows-based scoring of streaming detections (NAB-style, standard profile).

Each label gets a window centred on its start (width 10% of the series' span / number of labels,
stretched to cover the label's end); overlapping windows merge. The first detection inside a window
earns A_TP x sigmoid(position) (about 1 at the window's start, 0 at its end); a window with no
detection costs A_FN; every detection outside windows costs A_FP, weighted down when it comes
soon after a window. The first 15% of a series is a probation period (no detections, no labels).
A set's score is normalised so 0 = the null detector (detects nothing) and 100 = perfect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

A_TP, A_FP, A_FN = 1.0, -0.11, -1.0
PROBATION = 0.15
WINDOW_FRACTION = 0.10


def sigmoid(y: np.ndarray | float) -> np.ndarray | float:
    """NAB's scaled sigmoid: ~1 at y=-1 (window start), 0 at y=0 (window end), -> -1 long after."""
    return 2.0 / (1.0 + np.exp(5.0 * np.asarray(y, dtype=float))) - 1.0


@dataclass
class Windows:
    starts: np.ndarray
    ends: np.ndarray
    probation_end: float


def windows_for(ts: np.ndarray, labels: list[tuple[float, float]]) -> Windows:
    t0, t1 = float(np.nanmin(ts)), float(np.nanmax(ts))
    prob = t0 + PROBATION * (t1 - t0)
    labs = [(a, b) for a, b in labels if a >= prob]
    if not labels:
        return Windows(np.zeros(0), np.zeros(0), prob)
    half = 0.5 * WINDOW_FRACTION * (t1 - t0) / len(labels)
    spans = sorted((a - half, max(b, a) + half) for a, b in labs)
    merged: list[list[float]] = []
    for a, b in spans:
        a = max(a, prob)
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    arr = np.array(merged) if merged else np.zeros((0, 2))
    return Windows(arr[:, 0], arr[:, 1], prob)


@dataclass
class Tally:
    raw: float = 0.0
    null: float = 0.0
    perfect: float = 0.0
    tp: int = 0
    fn: int = 0
    fp: int = 0

    def add(self, o: "Tally") -> None:
        for k in ("raw", "null", "perfect", "tp", "fn", "fp"):
            setattr(self, k, getattr(self, k) + getattr(o, k))

    @property
    def normalised(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span > 0 else float("nan")


def score_series(ts: np.ndarray, detected: np.ndarray, w: Windows) -> Tally:
    """Tally one series' detections (a boolean per reading) against its windows."""
    d = ts[detected & (ts >= w.probation_end)]
    n_win = len(w.starts)
    out = Tally(null=A_FN * n_win, perfect=A_TP * float(sigmoid(-1.0)) * n_win)
    if n_win:
        k = np.searchsorted(w.starts, d, side="right") - 1
        inside = (k >= 0) & (d <= w.ends[np.maximum(k, 0)])
    else:
        k = np.full(len(d), -1)
        inside = np.zeros(len(d), bool)
    for j in range(n_win):
        hit = d[inside & (k == j)]
        if len(hit):
            out.raw += A_TP * float(sigmoid((hit[0] - w.ends[j]) / (w.ends[j] - w.starts[j])))
            out.tp += 1
        else:
            out.raw += A_FN
            out.fn += 1
    fp = ~inside
    out.fp = int(fp.sum())
    if out.fp:
        kk = k[fp]
        after = kk >= 0
        y = np.zeros(out.fp)
        if n_win:
            j = np.maximum(kk, 0)
            y = (d[fp] - w.ends[j]) / (w.ends[j] - w.starts[j])
        weight = np.where(after, -sigmoid(y), 1.0)  # in (0, 1]: soon after a window costs less
        out.raw += A_FP * float(weight.sum())
    return out
