"""The sensor stage of the worker: readings in, rate-limited operator alerts out (pure, time passed in).

Per batch: impossible values are flagged and fed to the detectors as missing; the vectorised
DetectorBank scores every reading; anomalous readings are grouped into one episode per sensor
(one alert id, re-emitted only when it worsens or its kind changes); nearby sensors decide what it is.

Decision rules (the design the operators can rely on):
- Fault signatures are maintenance alerts (category "sensor_fault"), never operational: a stuck /
  flat-lined value, a noisy sensor (variance), a silent sensor (gap; also found by tick()), and a
  physically impossible value.
- A spike, dip, level shift or drift in the sensor kind's event direction (up for water level,
  rainfall, PM2.5, smoke, tilt, passenger flow; down for traffic speed and water pressure):
  * corroborated by at least one nearby sensor of the same or a related kind anomalous in the
    matching direction within 15 min -> operational, with the agreeing sensors as evidence;
  * contradicted (nearby comparable sensors report normally, none agrees) -> an isolated reading:
    maintenance "sensor_fault" (the classic single faulty sensor);
  * no comparable neighbour at all -> operational but uncorroborated (lower severity): a lone
    drain sensor must still be able to warn of a flood; fusion decides whether it is enough.
  A later agreeing neighbour upgrades an isolated episode to operational (same alert id).
- The opposite direction (PM2.5 falling, speed rising) is not an incident: corroborated -> no
  alert; isolated -> maintenance (a sensor reading oddly low while its neighbours do not).
Severity: 1..4 from the score (0.5 / 0.7 / 0.9 of the scale), +1 when two or more sensors agree,
-1 when uncorroborated; maintenance alerts are 1 (2 when impossible or silent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from detectors import core
from detectors.bank import DetectorBank
from detectors.explain import reason as reason_words
from detectors.spatial import CATEGORY, Neighbourhood, event_sign
from streams.schemas import SENSOR_UNITS, Alert, SensorInfo, SensorReading

# physically impossible readings per kind (inclusive bounds), so a broken sensor is named as such
BOUNDS = {
    "water_level": (-2.0, 30.0), "rainfall": (0.0, 300.0), "pm25": (0.0, 2000.0),
    "traffic_speed": (0.0, 250.0), "manhole_tilt": (0.0, 90.0), "smoke": (0.0, 100.0),
    "water_pressure": (0.0, 30.0), "passenger_flow": (0.0, 100_000.0),
}
FAULT_TYPES = {"stuck", "variance", "gap"}
#: kinds whose events are physical episodes lasting hours (a haze), read every few minutes: their
#: detectors learn episode-aware (`detectors.core.Params.episodes`), so one haze does not hide the next.
#: Only PM2.5: for every kind it found about as many city events, but on the labelled real series of
#: `cityops evaluate detectors` (car parks, metro counts, NAB-style series) it raised many more false alarms
EPISODE_KINDS = frozenset({"pm25"})
MAX_MESSAGE_IDS = 200


@dataclass
class Episode:
    alert_id: str
    start: float
    last: float
    kind: str  # operational / maintenance
    category: str
    anomaly_type: str
    score: float
    severity: int
    message_ids: list[str] = field(default_factory=list)
    agreeing: list[str] = field(default_factory=list)
    isolated: bool = False  # maintenance only because neighbours disagreed (can be upgraded)
    eventish: bool = False  # the latest reading moved in the kind's event direction
    #: what the detector expected at the episode's first reading, and the largest sustained rise above
    #: it in the kind's event direction (see `note`): a physical size fusion can weigh, where the score
    #: saturates at 1.0 for a 2 cm tide and a 40 cm flood alike
    baseline: float = math.nan
    excess: float = 0.0
    emitted_excess: float = 0.0  # the excess the last emitted alert carried
    _prev: float = math.nan

    def note(self, value: float, sign: float) -> bool:
        """Take one reading of the episode; True when the sustained excess at least doubled since the last alert.

        A rise counts only as far as two consecutive, differing readings both reached it: one wild
        reading is a spike, and a sensor that jumped and then repeats one value is stuck; neither is
        water or people that are really there.
        """
        prev, self._prev = self._prev, value
        if not (math.isfinite(value) and math.isfinite(prev) and math.isfinite(self.baseline)) or value == prev:
            return False
        held = min(sign * value, sign * prev)  # how far both readings went in the event direction
        self.excess = max(self.excess, held - sign * self.baseline)
        return self.excess > 0 and self.excess >= 2.0 * self.emitted_excess


class SensorStage:
    """Pure stage: register(SensorInfo), process(readings, now) -> alerts, tick(now) -> alerts."""

    def __init__(self, neighbours: Callable[[str], Iterable[str]], threshold: float | None = None,
                 corroboration_window_s: float = 900.0, quiet_s: float = 1800.0, **kw: Any) -> None:
        self.bank = DetectorBank(**kw)
        self.threshold = core.DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self.agree_threshold = 0.6 * self.threshold  # a neighbour need not be alarming on its own
        self.near = Neighbourhood(neighbours, corroboration_window_s)
        self.quiet_s = quiet_s
        self.info: dict[str, SensorInfo] = {}
        self._bounds: dict[str, tuple[float, float]] = {}
        self.episodes: dict[str, Episode] = {}
        self.silent: dict[str, Episode] = {}
        self.stats = {"readings": 0, "unknown_sensor": 0, "impossible": 0, "alerts": 0}

    # ---------------------------------------------------------------- registry
    def register(self, info: SensorInfo) -> None:
        slot = int(self.bank.slots([info.sensor_id])[0])
        self.info[info.sensor_id] = info
        self.bank.set_episodes([slot], _kind(info) in EPISODE_KINDS)
        # physical bounds looked up once here, not per reading on the hot path
        self._bounds[info.sensor_id] = BOUNDS.get(_kind(info), (-math.inf, math.inf))
        self.near.add(info.sensor_id, _kind(info), info.cell, slot)

    # ---------------------------------------------------------------- readings
    def learn(self, sensor_ids: list[str], ts: np.ndarray, values: np.ndarray) -> int:
        """Learn from history without alerting: a city's archive, or the week a simulated city lived
        before an evaluation. The detectors' models advance exactly as `process` would move them
        (impossible values are missing); no episode opens and no neighbour is told. Unknown sensors
        and readings without a usable time are skipped; returns how many readings were learnt."""
        keep = np.array([sid in self.info for sid in sensor_ids], dtype=bool) & np.isfinite(np.asarray(ts, float))
        if not keep.any():
            return 0
        ids = [sid for sid, k in zip(sensor_ids, keep) if k]
        x = np.asarray(values, dtype=float)[keep]
        self.bank.update(self.bank.slots(ids), np.asarray(ts, float)[keep], np.where(self._impossible(ids, x), math.nan, x))
        return len(ids)

    def _impossible(self, sensor_ids: list[str], x: np.ndarray) -> np.ndarray:
        """Which values lie outside their sensor kind's physical range (missing ones do not)."""
        lo, hi = np.array([self._bounds[sid] for sid in sensor_ids], dtype=float).reshape(-1, 2).T
        return np.isfinite(x) & ((x < lo) | (x > hi))

    def process(self, readings: list[SensorReading], now: float) -> list[Alert]:
        known = [r for r in readings if r.sensor_id in self.info]
        self.stats["readings"] += len(readings)
        self.stats["unknown_sensor"] += len(readings) - len(known)  # counted, not scored: no place to alert
        if not known:
            return []
        slots = self.bank.slots([r.sensor_id for r in known])
        ts = np.array([r.ts for r in known], dtype=float)
        bad_ts = ~np.isfinite(ts)
        if bad_ts.any():  # a reading without a usable time is taken as arriving now
            ts[bad_ts] = now
            known = [r.model_copy(update={"ts": now}) if b else r for r, b in zip(known, bad_ts)]
        raw = np.array([math.nan if r.value is None else r.value for r in known], dtype=float)
        impossible = self._impossible([r.sensor_id for r in known], raw)
        values = np.where(impossible, math.nan, raw)  # the model must not learn from a broken value
        scores, out = self.bank.update_detailed(slots, ts, values, ("kind", "sig", "f", "gap", "krun", "Sr"))
        # the detector scores new evidence; how anomalous a reading still is (Sr) keeps episodes open
        still = out["Sr"] / self.bank.p.s_full
        hot = np.maximum(scores, still) >= self.agree_threshold
        self.near.observe(slots, ts, hot, np.sign(out["sig"]))
        alerts: dict[str, Alert] = {}
        for i in np.nonzero((still >= self.threshold) & (scores < self.threshold) & ~impossible)[0]:
            r = known[int(i)]
            ep = self.episodes.get(r.sensor_id)
            if ep is not None and ts[i] - ep.last <= self.quiet_s:
                ep.last = max(ep.last, float(ts[i]))
                ep.message_ids.append(f"{r.sensor_id}@{r.ts}")
                del ep.message_ids[:-MAX_MESSAGE_IDS]
                info = self.info[r.sensor_id]
                if ep.note(float(raw[i]), event_sign(_kind(info))) and ep.kind == "operational":
                    # still rising after the score saturated: fusion weighs the size, so tell it
                    expl = self.bank.explain(int(slots[i]))
                    expl["anomaly_type"] = ep.anomaly_type
                    alerts[ep.alert_id] = self._alert(info, ep, float(ts[i]), expl, False)
        for i in np.nonzero(impossible | (scores >= self.threshold))[0]:
            r = known[int(i)]
            a = self._on_anomaly(r, float(raw[i]), float(scores[i]), {k: float(v[i]) for k, v in out.items()},
                                 bool(impossible[i]))
            for al in a:
                alerts[al.alert_id] = al
        self.stats["impossible"] += int(impossible.sum())
        self.stats["alerts"] += len(alerts)
        return list(alerts.values())

    def _on_anomaly(self, r: SensorReading, value: float, score: float, o: dict[str, float],
                    impossible: bool) -> list[Alert]:
        info = self.info[r.sensor_id]
        kind = _kind(info)
        atype = "impossible" if impossible else core.KINDS[int(o["kind"])] if math.isfinite(o["kind"]) else "normal"
        direction = 1.0 if o["sig"] >= 0 else -1.0
        if atype in ("normal",):
            atype = "spike" if direction > 0 else "dip"
        explanation = {"value": value, "expected": o["f"], "deviation_sigma": o["sig"], "anomaly_type": atype,
                       "ts": r.ts, "gap_ratio": o["gap"], "stuck_run": int(o["krun"])}
        corr = self.near.corroborate(r.sensor_id, kind, info.cell, r.ts, direction)
        eventish = direction == event_sign(kind)
        upgrades: list[Alert] = []
        if impossible or atype in FAULT_TYPES:
            akind, isolated = "maintenance", False
        elif corr.agreeing:
            if not eventish:
                return []  # a corroborated fall of PM2.5 is good news, not an incident
            akind, isolated = "operational", False
            upgrades = self._upgrade(corr.agreeing, r.sensor_id, r.ts)
        elif corr.comparable:
            akind, isolated = "maintenance", True
        else:
            akind, isolated = ("operational", False) if eventish else ("maintenance", True)
        severity = _severity(score, akind, len(corr.agreeing), impossible)
        ep = self._episode(r.sensor_id, r.ts, akind, kind, atype, score, severity, isolated, corr.agreeing,
                           (value, o["f"]))
        if ep is None:
            return upgrades
        ep.eventish = eventish
        ep.message_ids.append(f"{r.sensor_id}@{r.ts}")
        del ep.message_ids[:-MAX_MESSAGE_IDS]
        return [self._alert(info, ep, r.ts, explanation, impossible)] + upgrades

    def _episode(self, sid: str, ts: float, akind: str, kind: str, atype: str, score: float, severity: int,
                 isolated: bool, agreeing: list[str], reading: tuple[float, float]) -> Episode | None:
        """Open a new episode, or update the open one; None when nothing worth re-emitting changed.

        `reading` is (value, expected): the first expected value is the episode's baseline.
        """
        category = "sensor_fault" if akind == "maintenance" else CATEGORY.get(kind, "other")
        ep = self.episodes.get(sid)
        if ep is not None and ts - ep.last > self.quiet_s:
            ep = None  # the previous episode ended quietly
        if ep is None:
            ep = Episode(f"sensor:{sid}:{ts:.0f}", ts, ts, akind, category, atype, score, severity,
                         agreeing=list(agreeing), isolated=isolated, baseline=reading[1])
            ep.note(reading[0], event_sign(kind))
            self.episodes[sid] = ep
            return ep
        ep.last = max(ep.last, ts)
        new_agree = [a for a in agreeing if a not in ep.agreeing]
        diagnosed = atype in FAULT_TYPES and ep.anomaly_type != atype  # a fault signature explains it better
        grew = ep.note(reading[0], event_sign(kind)) and "operational" in (akind, ep.kind)
        worse = (score >= ep.score + 0.1 or severity > ep.severity or new_agree or diagnosed or grew
                 or (akind == "operational" and ep.kind == "maintenance"))
        if not worse:
            ep.message_ids.append(f"{sid}@{ts}")
            del ep.message_ids[:-MAX_MESSAGE_IDS]
            return None
        if akind == "operational" or ep.kind == "maintenance":
            ep.kind, ep.category, ep.isolated = akind, category, isolated
        ep.anomaly_type = atype if (score >= ep.score or diagnosed) else ep.anomaly_type
        ep.score, ep.severity = max(ep.score, score), max(ep.severity, severity)
        ep.agreeing += new_agree
        return ep

    def _upgrade(self, agreeing: list[str], by: str, ts: float) -> list[Alert]:
        """Neighbours whose episode was held as an isolated fault are now corroborated: re-emit them."""
        out = []
        for sid in agreeing:
            ep = self.episodes.get(sid)
            if ep is None or not ep.isolated or ts - ep.last > self.quiet_s:
                continue
            info = self.info[sid]
            ep.kind, ep.isolated, ep.category = "operational", False, CATEGORY.get(_kind(info), "other")
            if by not in ep.agreeing:
                ep.agreeing.append(by)
            ep.severity = max(ep.severity, _severity(ep.score, "operational", len(ep.agreeing), False))
            expl = self.bank.explain(int(self.bank.slot_of(sid)))
            expl["anomaly_type"] = ep.anomaly_type
            out.append(self._alert(info, ep, ep.last, expl, False))
        return out

    def _alert(self, info: SensorInfo, ep: Episode, ts: float, e: dict[str, Any], impossible: bool) -> Alert:
        kind = _kind(info)
        unit = info.unit or SENSOR_UNITS.get(kind, "")
        words = self._words(kind, unit, e, impossible)
        if ep.excess > 0 and not impossible:
            words += f"; held {ep.excess:.2g} {unit} beyond the {ep.baseline:.3g} {unit} expected when it began"
        ep.emitted_excess = ep.excess
        if ep.agreeing:
            words += f"; {len(ep.agreeing)} nearby sensor{'s' if len(ep.agreeing) > 1 else ''} agree"
        elif ep.isolated:
            words += "; nearby sensors read normally, so the sensor itself is suspect"
        return Alert(
            alert_id=ep.alert_id, ts=ts, source="sensor", kind=ep.kind, category=ep.category,
            cell=info.cell, district=info.district, lat=info.lat, lon=info.lon,
            score=float(min(max(ep.score, 0.0), 1.0)), severity=ep.severity, reason=words,
            subject_id=info.sensor_id, message_ids=list(ep.message_ids),
            details={"corroborated": bool(ep.agreeing), "agreeing_sensors": list(ep.agreeing),
                     "anomaly_type": ep.anomaly_type, "value": _num(e.get("value")),
                     "expected": _num(e.get("expected")), "deviation_sigma": _num(e.get("deviation_sigma")),
                     "sensor_kind": kind, "unit": unit, "episode_start": ep.start,
                     "isolated": ep.isolated, "event_category": _event_category(kind, ep),
                     "baseline": _num(ep.baseline), "excess": _num(ep.excess)})

    def _words(self, kind: str, unit: str, e: dict[str, Any], impossible: bool) -> str:
        if impossible:
            lo, hi = BOUNDS.get(kind, (math.nan, math.nan))
            return (f"{kind.replace('_', ' ')} sensor reports {e.get('value')} {unit}, outside the possible "
                    f"range {lo:g}..{hi:g}: sensor fault")
        return reason_words(kind, unit, e, self.bank.p.utc_offset_h)

    # ---------------------------------------------------------------- time
    def tick(self, now: float) -> list[Alert]:
        """Silent sensors (maintenance, once per silence) and closing of quiet episodes."""
        for sid in [s for s, ep in self.episodes.items() if now - ep.last > self.quiet_s]:
            del self.episodes[sid]
        alerts = []
        ids = list(self.info)
        if not ids:
            return alerts
        slots = self.bank.slots(ids)
        p = self.bank.p
        f = {k: self.bank.field(k, slots) for k in ("dtm", "tlast", "n", "glong", "xlast")}
        bar = np.maximum(np.maximum(p.gap_ratio * 2.0 * f["dtm"], p.gap_long * f["glong"]), 600.0)
        silent = (f["n"] >= p.n_warm) & (f["dtm"] > 0) & (now - f["tlast"] > bar)
        for i in np.nonzero(~silent)[0]:
            self.silent.pop(ids[int(i)], None)
        for i in np.nonzero(silent)[0]:
            sid, info = ids[int(i)], self.info[ids[int(i)]]
            if sid in self.silent:
                continue
            tlast, dtm = float(f["tlast"][i]), float(f["dtm"][i])
            ep = Episode(f"sensor:{sid}:silent:{tlast:.0f}", now, now, "maintenance", "sensor_fault", "gap", 1.0, 2)
            self.silent[sid] = ep
            unit = info.unit or SENSOR_UNITS.get(_kind(info), "")
            e = {"value": float(f["xlast"][i]), "expected": math.nan, "deviation_sigma": 0.0, "anomaly_type": "gap",
                 "gap_ratio": (now - tlast) / dtm, "ts": now}
            al = self._alert(info, ep, now, e, False)
            al.reason = (f"{kind_label(info)} sensor silent: no valid reading for {(now - tlast) / 60:.0f} min "
                         f"(usually every {dtm / 60:.0f} min)")
            alerts.append(al)
        self.stats["alerts"] += len(alerts)
        return alerts


def kind_label(info: SensorInfo) -> str:
    return _kind(info).replace("_", " ")


def _kind(info: SensorInfo) -> str:
    k = info.kind
    return k.value if hasattr(k, "value") else str(k)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _event_category(kind: str, ep: Episode) -> str | None:
    """The incident an isolated rise would mean if something else confirmed it (fusion decides), else None.

    Only for an isolated episode in the event direction that no fault signature explains: a stuck,
    noisy, silent or impossible sensor is a fault whatever else happens nearby.
    """
    if ep.kind != "maintenance" or not ep.isolated or not ep.eventish or ep.anomaly_type in FAULT_TYPES | {"impossible"}:
        return None
    return CATEGORY.get(kind)


def _severity(score: float, akind: str, n_agree: int, impossible: bool) -> int:
    if akind == "maintenance":
        return 2 if impossible else 1
    s = 1 + (score >= 0.7) + (score >= 0.9)
    s += 1 if n_agree >= 2 else 0
    s -= 0 if n_agree else 1
    return int(min(max(s, 1), 4))
