"""`cityops evaluate detectors`: score the streaming detector and a windowed-Gaussian baseline on the
labelled sets, pick ONE threshold for all series on the tuning split, report the held-out split."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.special import log_ndtr

from cityops.evaluation.detectors_scoring import Tally, score_series, windows_for
from cityops.evaluation.detectors_sets import Series, load_all
from detectors import make_series_detector

# thresholds are swept in decades of surprise (-log10 tail probability): the detector's score is
# surprise / 10, the baseline's surprise is its Gaussian two-sided tail
GRID = np.round(np.arange(1.0, 10.01, 0.1), 2)


def surprise_ours(s: Series, params: dict[str, Any]) -> np.ndarray:
    det = make_series_detector(**params)
    f = det.score_one
    return 10.0 * np.array([f(t, v) for t, v in zip(s.ts.tolist(), s.values.tolist())])


def surprise_gaussian(s: Series, window: int = 6400) -> np.ndarray:
    """NAB's windowed Gaussian: z of each reading against the mean/std of the previous `window` ones."""
    x = s.values
    ok = np.isfinite(x)
    xv = np.where(ok, x, 0.0)
    c1 = np.r_[0.0, np.cumsum(xv)]
    c2 = np.r_[0.0, np.cumsum(xv * xv)]
    cn = np.r_[0, np.cumsum(ok)]
    i = np.arange(len(x))
    lo = np.maximum(0, i - window)
    n = cn[i] - cn[lo]
    mean = (c1[i] - c1[lo]) / np.maximum(n, 1)
    var = (c2[i] - c2[lo]) / np.maximum(n, 1) - mean ** 2
    std = np.sqrt(np.maximum(var, 0.0))
    z = np.abs(x - mean) / np.maximum(std, 1e-9)
    with np.errstate(all="ignore"):
        out = -(math.log(2.0) + log_ndtr(-z)) / math.log(10.0)
    return np.where(ok & (n >= 10) & (std > 0), np.nan_to_num(out, posinf=300.0), 0.0)


@dataclass
class Scored:
    series: Series
    surprise: np.ndarray


def _tallies(scored: list[Scored], thr: float, split: str | None) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for sc in scored:
        if split and sc.series.split != split:
            continue
        w = windows_for(sc.series.ts, sc.series.labels)
        out.setdefault(sc.series.set, Tally()).add(score_series(sc.series.ts, sc.surprise >= thr, w))
    return out


def _objective(t: dict[str, Tally]) -> float:
    vals = [x.normalised for x in t.values() if math.isfinite(x.normalised)]
    return float(np.mean(vals)) if vals else float("-inf")


def choose_threshold(scored: list[Scored]) -> float:
    """The one threshold (in decades) that maximises the mean per-set score on the tuning split."""
    best = max(GRID, key=lambda g: _objective(_tallies(scored, float(g), "tune")))
    return float(best)


def run(data: Path | None, sets: list[str] | None, params: dict[str, Any], json_out: str | None,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    series = load_all(data, sets)
    if not series:
        raise SystemExit("no labelled series (is --data pointing at ../shared/data/sensors?)")
    results: dict[str, Any] = {"detectors": {}, "sets": {}, "params": params}
    for name, fn in (("cityops", lambda s: surprise_ours(s, params)), ("windowed_gaussian", surprise_gaussian)):
        t0 = time.perf_counter()
        scored = [Scored(s, fn(s)) for s in series]
        secs = time.perf_counter() - t0
        thr = choose_threshold(scored)
        tune, held = _tallies(scored, thr, "tune"), _tallies(scored, thr, "heldout")
        results["detectors"][name] = {
            "threshold_decades": thr, "threshold_score": round(thr / 10.0, 3), "seconds": round(secs, 2),
            "points": int(sum(len(s.ts) for s in series)),
            "tune": {k: _tally_json(v) for k, v in tune.items()},
            "heldout": {k: _tally_json(v) for k, v in held.items()},
        }
    for s in series:
        d = results["sets"].setdefault(s.set, {"series": 0, "labels": 0, "points": 0})
        d["series"] += 1
        d["labels"] += len(s.labels)
        d["points"] += len(s.ts)
    _print_table(results, echo)
    real = [k for k in results["sets"] if k not in ("synthetic", "simulator")]
    for name, r in results["detectors"].items():
        vals = [r["heldout"][k]["score"] for k in real if k in r["heldout"]]
        r["heldout_real_mean"] = round(float(np.mean(vals)), 1) if vals else None
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))
    return results


def _tally_json(t: Tally) -> dict[str, Any]:
    return {"score": round(t.normalised, 1), "tp": t.tp, "fn": t.fn, "fp": t.fp, "raw": round(t.raw, 3)}


def _print_table(r: dict[str, Any], echo: Callable[[str], None]) -> None:
    echo(f"{'set':<16}{'series':>7}{'labels':>7}  " + "  ".join(
        f"{n + ' tune':>24}{n + ' held-out':>28}" for n in r["detectors"]))
    for k, meta in r["sets"].items():
        cells = []
        for n, d in r["detectors"].items():
            tu, he = d["tune"].get(k), d["heldout"].get(k)
            cells.append(f"{_cell(tu):>24}{_cell(he):>28}")
        echo(f"{k:<16}{meta['series']:>7}{meta['labels']:>7}  " + "  ".join(cells))
    for n, d in r["detectors"].items():
        echo(f"{n}: one threshold {d['threshold_decades']} decades (score {d['threshold_score']}), "
             f"{d['points'] / max(d['seconds'], 1e-9):,.0f} points/s")


def _cell(t: dict[str, Any] | None) -> str:
    if not t:
        return "-"
    return f"{t['score']:6.1f} (tp{t['tp']} fn{t['fn']} fp{t['fp']})"
