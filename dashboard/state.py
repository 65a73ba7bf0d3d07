"""The dashboard's view model: what the screens show, rebuilt from the topics it consumes.

`DashboardState` is fed message by message (`apply_incident`, `apply_event`, `apply_metrics`,
`apply_alert`, `apply_unit_info`, `apply_unit_status`); each call returns the deltas to broadcast
as ``(kind, key, data)`` triples, where ``key`` names what a later delta of the same key replaces
(so slow clients can be sent only the latest). Aggregates that depend on many messages (KPIs, the
alarm-flood grouping, cell heat, theme panels) are recomputed by `aggregates(now)` on a timer.

Time is event time: `now()` is the newest event time seen, advancing with the wall clock between
messages, so a compressed simulation shows "today" and "last 10 minutes" in its own time.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams.schemas import (
    Alert, DispatchEvent, DistrictMetrics, Incident, IncidentStatus, UnitInfo, UnitStatus,
)

Delta = tuple[str, str, dict[str, Any]]

TERMINAL = frozenset({IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value,
                      IncidentStatus.FALSE_ALARM.value, IncidentStatus.MERGED.value})

#: Alarm-flood guard: more than FLOOD_COUNT new incidents within FLOOD_WINDOW_S are grouped.
FLOOD_COUNT = 10
FLOOD_WINDOW_S = 600.0
HEAT_WINDOW_S = 1800.0
HISTORY_STEP_S = 10.0
HISTORY_POINTS = 360  # one hour at 10 s
MAX_ALERTS = 20_000
ALERT_POINTS = 240
MAX_TERMINAL_IN_SNAPSHOT = 300
EVENTS_KEPT = 300
EVENTS_PER_INCIDENT = 60
#: Sensors often report every few minutes, in bursts: the view covers ten minutes of metrics.
METRICS_HORIZON_S = 600.0
METRICS_MIN_KEPT = 5
METRICS_MAX_KEPT = 400
#: Closed incidents older than this (event time) are forgotten, so a server running for weeks stays small.
KEEP_TERMINAL_S = 2 * 86400.0


def incident_view(inc: Incident) -> dict[str, Any]:
    """The incident as the pages get it (JSON-ready)."""
    return inc.model_dump(mode="json")


def merge_metrics(district: str, log: list[dict[str, Any]]) -> dict[str, Any]:
    """One district's figures over its recent metrics messages (same shape as DistrictMetrics).

    Readings per second over the summed windows; sensors reporting = the most any window saw (a
    lower bound when readings are bursty); per-kind means weighted by their sample counts; event and
    call counts and hotline hot spots summed.
    """
    window = sum(x["window_s"] for x in log) or 1e-3
    readings = sum(x["readings"] for x in log)
    kinds: dict[str, dict[str, float]] = {}
    acc: dict[str, list[float]] = {}
    for x in log:
        for kind, st in x["kinds"].items():
            if st.get("mean") is None:
                continue
            n = float(st.get("n", 1.0) or 1.0)
            a = acc.setdefault(kind, [0.0, 0.0, float("-inf")])
            a[0] += st["mean"] * n
            a[1] += n
            a[2] = max(a[2], float(st.get("max", st["mean"])))
    for kind, (total, n, mx) in acc.items():
        kinds[kind] = {"mean": round(total / n, 4), "max": round(mx, 4), "n": n}
    top: Counter = Counter()
    for x in _newest_per_worker(log).values():  # hot spots are a state per worker: sum workers, not time
        for row in x.get("hotline_top", []):
            top[(row.get("category"), row.get("cell"))] += int(row.get("count", 0) or 0)
    last = log[-1]
    return {
        "district": district, "ts": max(x["ts"] for x in log), "window_s": round(window, 3), "readings": readings,
        "readings_per_s": round(readings / window, 2),
        "sensors_reporting": max(x["sensors_reporting"] for x in log), "sensors_known": last["sensors_known"],
        "sensors_online": _online(log),
        "kinds": kinds, "video_events": sum(x["video_events"] for x in log),
        "hotline_calls": sum(x["hotline_calls"] for x in log),
        "hotline_top": [{"category": c, "cell": cell, "count": n} for (c, cell), n in top.most_common(5)],
        "dead_letters": sum(x["dead_letters"] for x in log), "messages": len(log),
    }


def _newest_per_worker(log: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for x in log:
        newest[x.get("worker", "")] = x
    return newest


def _online(log: list[dict[str, Any]]) -> int:
    """Sensors heard from recently: each worker's newest count for its share of the district, summed.

    Records from workers that do not send `sensors_online` fall back to the busiest window's count."""
    counts = [x.get("sensors_online") for x in _newest_per_worker(log).values()]
    if any(counts):
        return sum(int(c or 0) for c in counts)
    return max(x["sensors_reporting"] for x in log)


def local_midnight(ts: float, utc_offset_h: float) -> float:
    """Start of the local day containing `ts` (a fixed offset: Guangzhou has no DST)."""
    off = utc_offset_h * 3600.0
    return ((ts + off) // 86400.0) * 86400.0 - off


@dataclass
class _History:
    """City-wide time series sampled every HISTORY_STEP_S of event time, for the theme panels."""

    ts: deque = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    series: dict[str, deque] = field(default_factory=dict)
    last: float = float("-inf")

    def sample(self, now: float, values: dict[str, float | None]) -> None:
        if now - self.last < HISTORY_STEP_S:
            return  # too soon, or an older metrics time (replays): the history only moves forward
        self.last = now
        self.ts.append(now)
        for name in set(self.series) | set(values):
            dq = self.series.setdefault(name, deque([None] * (len(self.ts) - 1), maxlen=HISTORY_POINTS))
            dq.append(values.get(name))

    def as_dict(self) -> dict[str, Any]:
        return {"ts": list(self.ts), "series": {k: list(v) for k, v in self.series.items()}}


class DashboardState:
    """Everything the big screen and the console display. Not thread-safe: one event loop feeds it."""

    def __init__(self, utc_offset_h: float = 8.0, wall: Callable[[], float] = time.time) -> None:
        self.utc_offset_h = utc_offset_h
        self._wall = wall
        self._event_now = float("-inf")
        self._event_at_wall = wall()
        self.incidents: dict[str, dict[str, Any]] = {}
        self._first_seen: dict[str, float] = {}  # incident id -> opened_at, for the flood window
        self.units: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self._metric_log: dict[str, deque[dict[str, Any]]] = {}
        self.alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: (ts, value) of each re-emission of a sensor alert: the chart around the anomaly
        self.alert_points: dict[str, deque[tuple[float, float]]] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self.incident_events: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=EVENTS_PER_INCIDENT))
        self.history = _History()

    # -------------------------------------------------------------- clock
    def _saw(self, ts: float) -> None:
        if ts > self._event_now:
            self._event_now = ts
            self._event_at_wall = self._wall()

    def now(self) -> float:
        if self._event_now == float("-inf"):
            return self._wall()
        return self._event_now + (self._wall() - self._event_at_wall)

    # -------------------------------------------------------------- inputs
    def apply_incident(self, inc: Incident) -> list[Delta]:
        """Latest state of one incident; older revisions (replays, reordering) are ignored."""
        old = self.incidents.get(inc.incident_id)
        if old is not None and old["revision"] >= inc.revision:
            return []
        self._saw(inc.updated_at)
        view = incident_view(inc)
        self.incidents[inc.incident_id] = view
        self._first_seen.setdefault(inc.incident_id, inc.opened_at)
        return [("incident", f"incident:{inc.incident_id}", view)]

    def apply_event(self, ev: DispatchEvent) -> list[Delta]:
        self._saw(ev.ts)
        view = ev.model_dump(mode="json")
        self.events.append(view)
        if ev.incident_id:
            self.incident_events[ev.incident_id].append(view)
        return [("event", f"event:{ev.event_id}", view)]

    def apply_metrics(self, m: DistrictMetrics) -> list[Delta]:
        """Workers publish what they saw since their last tick, so one message may be empty (bursty
        gateways) or partial (several workers share a district's cells); the view merges a horizon."""
        log = self._metric_log.setdefault(m.district, deque())
        if log and log[-1]["ts"] > m.ts + METRICS_HORIZON_S:
            return []  # far older than what we show (a replay): ignore
        self._saw(m.ts)
        log.append(m.model_dump(mode="json"))
        newest = max(x["ts"] for x in log)
        while len(log) > METRICS_MIN_KEPT and log[0]["ts"] < newest - METRICS_HORIZON_S:
            log.popleft()
        while len(log) > METRICS_MAX_KEPT:
            log.popleft()
        view = merge_metrics(m.district, list(log))
        self.metrics[m.district] = view
        return [("metrics", f"metrics:{m.district}", view)]

    def apply_alert(self, a: Alert) -> list[Delta]:
        """Alerts are kept for evidence and heat; they are not broadcast one by one."""
        self._saw(a.ts)
        self.alerts[a.alert_id] = a.model_dump(mode="json")
        self.alerts.move_to_end(a.alert_id)
        value = a.details.get("value")
        if a.source == "sensor" and isinstance(value, (int, float)):
            pts = self.alert_points.setdefault(a.alert_id, deque(maxlen=ALERT_POINTS))
            if not pts or pts[-1][0] < a.ts:
                pts.append((a.ts, float(value)))
        while len(self.alerts) > MAX_ALERTS:
            old, _ = self.alerts.popitem(last=False)
            self.alert_points.pop(old, None)
        return []

    def apply_unit_info(self, u: UnitInfo) -> list[Delta]:
        view = self.units.setdefault(u.unit_id, {"unit_id": u.unit_id, "status": "available",
                                                 "lat": u.home_lat, "lon": u.home_lon, "incident_id": None})
        view.update(type=u.type.value, name=u.name or u.unit_id, district=u.district, skills=u.skills)
        return [("unit", f"unit:{u.unit_id}", dict(view))]

    def apply_unit_status(self, s: UnitStatus) -> list[Delta]:
        self._saw(s.ts)
        view = self.units.setdefault(s.unit_id, {"unit_id": s.unit_id, "type": "", "name": s.unit_id,
                                                 "district": "", "lat": None, "lon": None})
        if view.get("ts", float("-inf")) > s.ts:
            return []
        view.update(status=s.status.value, ts=s.ts, incident_id=s.incident_id)
        if s.lat is not None and s.lon is not None:
            view.update(lat=s.lat, lon=s.lon)
        return [("unit", f"unit:{s.unit_id}", dict(view))]

    # -------------------------------------------------------------- views
    def incident_detail(self, incident_id: str) -> dict[str, Any] | None:
        """One incident with the alerts behind its evidence and its dispatch history (for the console)."""
        inc = self.incidents.get(incident_id)
        if inc is None:
            return None
        alerts = []
        for e in inc.get("evidence", []):
            if e["alert_id"] in self.alerts:
                a = dict(self.alerts[e["alert_id"]])
                a["points"] = list(self.alert_points.get(e["alert_id"], ()))
                alerts.append(a)
        return {"incident": inc, "alerts": alerts, "events": list(self.incident_events.get(incident_id, ()))}

    def snapshot_incidents(self) -> list[dict[str, Any]]:
        """Every open incident and the most recently updated closed ones."""
        open_, done = [], []
        for v in self.incidents.values():
            (done if v["status"] in TERMINAL else open_).append(v)
        done.sort(key=lambda v: v["updated_at"], reverse=True)
        return open_ + done[:MAX_TERMINAL_IN_SNAPSHOT]

    def kpis(self, now: float) -> dict[str, Any]:
        known = sum(m["sensors_known"] for m in self.metrics.values())
        online = sum(m.get("sensors_online", m["sensors_reporting"]) for m in self.metrics.values())
        midnight = local_midnight(now, self.utc_offset_h)
        by_priority = Counter()
        ack, disp = [], []
        breaches_open = breaches_today = today = 0
        for v in self.incidents.values():
            is_open = v["status"] not in TERMINAL
            if is_open:
                by_priority[v["priority"]] += 1
                breaches_open += bool(v["sla_breaches"])
            if v["opened_at"] >= midnight:
                today += 1
                breaches_today += bool(v["sla_breaches"])
                if v["acknowledged_at"] is not None:
                    ack.append(v["acknowledged_at"] - v["opened_at"])
                if v["dispatched_at"] is not None:
                    disp.append(v["dispatched_at"] - v["opened_at"])
        return {
            "now": now,
            "sensors_known": known,
            "sensors_online": online,
            "sensors_silent": max(0, known - online),
            "readings_per_s": round(sum(m["readings_per_s"] for m in self.metrics.values()), 1),
            "open_by_priority": {str(p): by_priority.get(p, 0) for p in (1, 2, 3, 4)},
            "open_total": sum(by_priority.values()),
            "incidents_today": today,
            "mtta_s": round(sum(ack) / len(ack), 1) if ack else None,
            "mttd_s": round(sum(disp) / len(disp), 1) if disp else None,
            "sla_breaches_open": breaches_open,
            "sla_breaches_today": breaches_today,
        }

    def flood(self, now: float) -> dict[str, Any]:
        """Alarm-flood guard: when more than FLOOD_COUNT incidents opened in the last FLOOD_WINDOW_S,
        group them by (category, district) so the feed shows groups instead of scrolling them away."""
        recent = [iid for iid, opened in self._first_seen.items() if now - FLOOD_WINDOW_S <= opened <= now + 300]
        if len(recent) <= FLOOD_COUNT:
            return {"active": False, "count": len(recent), "groups": []}
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for iid in recent:
            v = self.incidents[iid]
            groups[(v["category"], v["district"])].append(iid)
        out = [{"category": c, "district": d, "count": len(ids),
                "max_severity": max(self.incidents[i]["severity"] for i in ids), "incident_ids": ids[-50:]}
               for (c, d), ids in groups.items()]
        out.sort(key=lambda g: (-g["max_severity"], -g["count"]))
        return {"active": True, "count": len(recent), "groups": out}

    def heat(self, now: float) -> list[dict[str, Any]]:
        """Per-cell weight of recent operational alerts (score-weighted) for the map's heat layer."""
        cells: dict[str, dict[str, Any]] = {}
        for a in reversed(self.alerts.values()):
            if a["ts"] < now - HEAT_WINDOW_S:
                break  # alerts arrive roughly in time order; older ones no longer heat the map
            if a["kind"] != "operational" or a["ts"] > now + 300:
                continue
            c = cells.setdefault(a["cell"], {"cell": a["cell"], "lat": a["lat"], "lon": a["lon"], "value": 0.0})
            c["value"] = round(c["value"] + a["score"], 3)
        return sorted(cells.values(), key=lambda c: -c["value"])[:2000]

    def city_values(self) -> dict[str, float | None]:
        """City-wide figures for the history: readings/s and the mean/max per sensor kind."""
        out: dict[str, float | None] = {"readings_per_s": sum(m["readings_per_s"] for m in self.metrics.values())}
        acc: dict[str, list[float]] = defaultdict(list)
        mx: dict[str, float] = {}
        for m in self.metrics.values():
            for kind, stats in m["kinds"].items():
                if stats.get("mean") is not None:
                    acc[kind].append(float(stats["mean"]))
                if stats.get("max") is not None:
                    mx[kind] = max(mx.get(kind, float("-inf")), float(stats["max"]))
        for kind, vals in acc.items():
            out[f"{kind}.mean"] = round(sum(vals) / len(vals), 3)
        for kind, v in mx.items():
            out[f"{kind}.max"] = round(v, 3)
        return out

    def prune(self, now: float) -> int:
        """Forget closed incidents (and their history) last updated more than KEEP_TERMINAL_S ago."""
        old = [iid for iid, v in self.incidents.items()
               if v["status"] in TERMINAL and v["updated_at"] < now - KEEP_TERMINAL_S]
        for iid in old:
            del self.incidents[iid]
            self._first_seen.pop(iid, None)
            self.incident_events.pop(iid, None)
        return len(old)

    def aggregates(self, now: float | None = None) -> dict[str, Any]:
        """KPIs, flood groups and heat; also samples the history. Called on a timer, not per message."""
        now = self.now() if now is None else now
        if self.metrics:  # sampled at the metrics' own time, so a replay from the past fills it too
            self.history.sample(max(m["ts"] for m in self.metrics.values()), self.city_values())
        return {"kpis": self.kpis(now), "flood": self.flood(now), "heat": self.heat(now)}

    def snapshot(self) -> dict[str, Any]:
        """The full view a newly connected page starts from."""
        now = self.now()
        return {
            "now": now,
            "incidents": self.snapshot_incidents(),
            "units": list(self.units.values()),
            "metrics": list(self.metrics.values()),
            "events": list(self.events)[-100:],
            "kpis": self.kpis(now),
            "flood": self.flood(now),
            "heat": self.heat(now),
            "history": self.history.as_dict(),
        }
