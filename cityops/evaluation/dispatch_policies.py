"""Nearest-available vs the optimised policy over fleet scales on an SFFD export (`cityops evaluate dispatch`).

For each fleet scale both policies replay the same calls; the table shows late fraction, mean and p90
response, and the relative change. `bar_scale` is the largest scale at which nearest-available is late
for at least 20 % of calls; the issue's bar is judged there (late cut ≥ 15 %, mean at most 5 % worse),
and at scale 1.0 (p90 no worse).
"""

from __future__ import annotations

from pathlib import Path

from dispatch.policies import make_policy
from dispatch.replay import Replay
from dispatch.sffd import read_calls

DEFAULT_SCALES = (1.0, 0.5, 0.4, 0.35, 0.3, 0.25)


def evaluate(path: Path | str, scales: tuple[float, ...] = DEFAULT_SCALES, use_engine: bool = False) -> dict:
    calls, rep = read_calls(path)
    if not calls:
        raise ValueError(f"{path}: no usable calls")
    rows = []
    for sc in scales:
        res = {p: Replay(calls, make_policy(p), sc, use_engine=use_engine).run() for p in ("nearest", "optimised")}
        n, o = res["nearest"], res["optimised"]
        rows.append({"fleet_scale": sc, "units": n.fleet_units, "calls": n.calls,
                     "nearest": _fig(n), "optimised": _fig(o),
                     "late_change": _rel(o.late_fraction, n.late_fraction),
                     "mean_change": _rel(o.mean_response_s, n.mean_response_s),
                     "p90_change": _rel(o.p90_response_s, n.p90_response_s)})
    stressed = [r for r in rows if r["nearest"]["late_fraction"] >= 0.20]
    bar = max(stressed, key=lambda r: r["fleet_scale"]) if stressed else None
    full = next((r for r in rows if r["fleet_scale"] == 1.0), None)
    return {"file": str(path), "rows_skipped": sum(rep.skipped.values()), "scales": rows,
            "bar_scale": bar["fleet_scale"] if bar else None,
            "bar_late_cut_ok": bool(bar and bar["late_change"] <= -0.15 and bar["mean_change"] <= 0.05),
            "real_fleet_p90_ok": bool(full and full["p90_change"] <= 0.0)}


def _fig(r) -> dict:
    return {"late_fraction": round(r.late_fraction, 4), "mean_response_s": round(r.mean_response_s, 1),
            "p90_response_s": round(r.p90_response_s, 1), "utilisation": round(r.utilisation, 3)}


def _rel(new: float, old: float) -> float:
    return round(new / old - 1.0, 4) if old else 0.0


def table(doc: dict) -> str:
    lines = [f"{'scale':>5} {'units':>5} | {'nearest late':>12} {'mean':>7} {'p90':>7} | "
             f"{'optimised late':>14} {'mean':>7} {'p90':>7} | {'late Δ':>7} {'mean Δ':>7} {'p90 Δ':>7}"]
    for r in doc["scales"]:
        n, o = r["nearest"], r["optimised"]
        lines.append(f"{r['fleet_scale']:5.2f} {r['units']:5d} | {n['late_fraction']:12.3f} {n['mean_response_s']:7.0f} "
                     f"{n['p90_response_s']:7.0f} | {o['late_fraction']:14.3f} {o['mean_response_s']:7.0f} "
                     f"{o['p90_response_s']:7.0f} | {r['late_change']:+7.1%} {r['mean_change']:+7.1%} {r['p90_change']:+7.1%}")
    lines.append(f"bar scale (largest with nearest late >= 20%): {doc['bar_scale']}  late cut >= 15% with mean <= +5%: "
                 f"{doc['bar_late_cut_ok']}  real fleet p90 no worse: {doc['real_fleet_p90_ok']}")
    return "\n".join(lines)
