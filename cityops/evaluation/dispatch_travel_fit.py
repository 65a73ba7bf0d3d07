"""Fit the dispatch travel-time model on an SFFD export: `python -m cityops.evaluation.dispatch_travel_fit FILE`.

Travel = en route → on scene for engines and trucks, distance = haversine from the unit's station
(estimated as the median location of its station area's calls) to the call. A robust (L1, by
iteratively reweighted least squares) line `t = base + s_per_m * d` is fitted on all of them, then one
multiplier per time-of-day band (median of observed / predicted). Prints the constants that
`dispatch.travel` stores.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

from dispatch.sffd import read_calls
from dispatch.travel import HOUR_BANDS
from streams.city import haversine_m


def station_locations(calls) -> dict[str, tuple[float, float]]:
    by: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for c in calls:
        by[c.station_area].append((c.lat, c.lon))
    return {k: tuple(np.median(np.array(v), axis=0)) for k, v in by.items() if k}


def _l1_line(d: np.ndarray, t: np.ndarray) -> np.ndarray:
    a = np.c_[np.ones_like(d), d]
    w = np.ones_like(t)
    coef = np.zeros(2)
    for _ in range(50):
        coef = np.linalg.lstsq(a * w[:, None], t * w, rcond=None)[0]
        w = 1.0 / np.sqrt(np.maximum(np.abs(t - a @ coef), 1.0))
    return coef


def fit(path: str) -> dict:
    calls, _ = read_calls(path)
    st = station_locations(calls)
    d, t, h = [], [], []
    for c in calls:
        for u in c.units:
            if u.response and u.on_scene and u.station in st and u.unit_type in ("ENGINE", "TRUCK"):
                dt = u.on_scene - u.response
                if 0 < dt < 3600:
                    d.append(haversine_m(*st[u.station], c.lat, c.lon))
                    t.append(dt)
                    h.append(int(u.response // 3600) % 24)
    d_, t_, h_ = np.array(d), np.array(t), np.array(h)
    base, s_per_m = _l1_line(d_, t_)
    pred = base + s_per_m * d_
    bands = []
    for lo, hi in HOUR_BANDS:
        m = (h_ >= lo) & (h_ < hi)
        bands.append(round(float(np.median(t_[m] / pred[m])), 3) if m.sum() >= 20 else 1.0)
    return {"samples": int(len(d_)), "base_s": round(float(base), 1), "s_per_m": round(float(s_per_m), 5),
            "band_factors": bands}


if __name__ == "__main__":
    print(json.dumps(fit(sys.argv[1])))
