"""Synthetic sensor series with daily + weekly seasonality and one injected anomaly of a chosen kind.

Used by the tests and by `cityops evaluate detectors` (the synthetic labelled set)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANOMALY_KINDS = ("spike", "dip", "level_shift", "variance", "stuck", "drift", "gap", "none")
T0 = 1_700_006_400.0  # a Wednesday, 00:00 UTC


@dataclass
class Synthetic:
    ts: np.ndarray
    values: np.ndarray
    kind: str
    start: int  # index of the first anomalous reading (-1 for "none")
    end: int  # index after the last anomalous reading


def seasonal(n: int, step_s: float, rng: np.random.Generator, level: float = 50.0,
             amp: float = 20.0, noise: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A clean series: a daily shape with morning and evening peaks, quieter weekends, noise."""
    ts = T0 + step_s * np.arange(n)
    h = ((ts + 8 * 3600) % 86400) / 3600.0
    day = ((ts + 8 * 3600) // 86400 + 3) % 7
    daily = np.exp(-((h - 8.5) ** 2) / 3.0) + 0.8 * np.exp(-((h - 18.0) ** 2) / 4.0) + 0.2 * np.sin(h / 24 * 2 * math.pi)
    weekly = np.where(day >= 5, 0.6, 1.0)
    v = level + amp * daily * weekly + rng.normal(0, noise, n)
    return ts, v


def make(kind: str, seed: int = 0, days: int = 21, step_s: float = 600.0, irregular: bool = False,
         nan_frac: float = 0.0, noise: float = 2.0) -> Synthetic:
    """A series of `days` with one anomaly of `kind` in its last third (none for 'none')."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / step_s)
    ts, v = seasonal(n, step_s, rng, noise=noise)
    if irregular:
        ts = ts + rng.uniform(-0.3, 0.3, n) * step_s
    start = int(n * rng.uniform(0.7, 0.85))
    end = start + 1
    sd = noise
    if kind == "spike":
        v[start] += 12 * sd
    elif kind == "dip":
        v[start] -= 12 * sd
    elif kind == "level_shift":
        v[start:] += 8 * sd
        end = n
    elif kind == "variance":
        end = min(n, start + 144)
        v[start:end] += rng.normal(0, 5 * sd, end - start)
    elif kind == "stuck":
        end = min(n, start + 60)
        v[start:end] = v[start]
    elif kind == "drift":
        end = min(n, start + 288)
        v[start:end] += np.linspace(0, 12 * sd, end - start)
        v[end:] += 12 * sd
    elif kind == "gap":
        end = min(n, start + 40)
        keep = np.ones(n, bool)
        keep[start:end] = False
        ts, v = ts[keep], v[keep]
        end = start + 1  # the first reading after the silence is where it can be seen
    elif kind == "none":
        start = end = -1
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}")
    if nan_frac > 0:
        holes = rng.random(len(v)) < nan_frac
        if start >= 0:
            holes[start:end] = False
        v = v.copy()
        v[holes] = np.nan
    return Synthetic(ts, v, kind, start, end)
