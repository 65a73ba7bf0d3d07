"""Turn a detector's numbers into what an operator reads: the anomaly type and a one-line reason."""

from __future__ import annotations

import math
import time as _time
from typing import Any

from detectors import core

_LABELS = {
    "water_level": "water level", "rainfall": "rainfall", "pm25": "PM2.5", "traffic_speed": "traffic speed",
    "manhole_tilt": "manhole tilt", "smoke": "smoke", "water_pressure": "water pressure",
    "passenger_flow": "passenger flow",
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe_fields(st: dict[str, float]) -> dict[str, Any]:
    """The explain() dict of one slot from its FIELDS values (see detectors.core)."""
    kind = core.KINDS[int(st["kind"])] if math.isfinite(st["kind"]) else "normal"
    return {
        "ts": st["ts"],
        "value": st["xv"],
        "expected": st["f"],
        "deviation_sigma": st["sig"],
        "anomaly_type": kind,
        "surprise_decades": st["S"],
        "score": min(st["S"] / 10.0, 1.0) if math.isfinite(st["S"]) else 0.0,
        # how anomalous the reading is even when it adds nothing new to an episode already reported
        "ongoing_score": min(st.get("Sr", 0.0) / 10.0, 1.0) if math.isfinite(st.get("Sr", 0.0)) else 0.0,
        "gap_ratio": st["gap"],
        "stuck_run": int(st["krun"]),
        "readings_seen": int(st["n"]),
    }


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "no value"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if a else "0"


def when_words(ts: float, utc_offset_h: float = 8.0) -> str:
    """'a Tuesday 14:00' in the city's local time (computed from the event time, not the clock)."""
    if not math.isfinite(ts):
        return "this time"
    tm = _time.gmtime(ts + utc_offset_h * 3600.0)
    return f"a {_DAYS[tm.tm_wday]} {tm.tm_hour:02d}:00"


def reason(sensor_kind: str, unit: str, info: dict[str, Any], utc_offset_h: float = 8.0) -> str:
    """One sentence, e.g. 'water level 1.8 m, 6σ above the usual for a Tuesday 14:00'."""
    label = _LABELS.get(sensor_kind, sensor_kind.replace("_", " "))
    v, exp, sig = info.get("value", math.nan), info.get("expected", math.nan), info.get("deviation_sigma", 0.0)
    u = f" {unit}" if unit else ""
    typ = info.get("anomaly_type", "normal")
    when = when_words(info.get("ts", math.nan), utc_offset_h)
    if typ == "gap":
        return f"{label} sensor silent: no valid reading for {info.get('gap_ratio', 0.0):.0f}x its usual interval"
    if typ == "stuck":
        return f"{label} stuck at {_fmt(v)}{u} for {info.get('stuck_run', 0) + 1} readings in a row"
    if typ == "variance":
        return f"{label} {_fmt(v)}{u} fluctuating far more than usual for {when}"
    side = "above" if sig >= 0 else "below"
    sig_txt = f"{abs(sig):.0f}σ" if abs(sig) >= 1 else f"{abs(sig):.1f}σ"
    head = {"drift": "drifting: ", "level_shift": "jumped and stays: "}.get(typ, "")
    return f"{label} {head}{_fmt(v)}{u}, {sig_txt} {side} the usual ({_fmt(exp)}{u}) for {when}"
