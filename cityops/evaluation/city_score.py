"""Scoring a city run: match fusion's incidents to the simulator's ground truth and compute the figures.

Input: every `IncidentUpdate` fusion published and every `ScenarioTruth` the simulator injected.
An incident matches a scenario when (1) its category is compatible with the scenario type, (2) one
of its evidence cells (or its anchor cell) lies within one ring of a scenario cell, and (3) it
opened within [start - slack, end + slack]. Each incident is credited to at most one scenario (the
best match: exact category first, then nearest in time), so incidents per event is honest.
Fault scenarios (`operational=False`) are matched the same way (or by carrying the faulty sensor's
evidence): such an incident is a fault raised as an operational incident.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.schemas import IncidentUpdate, ScenarioTruth

#: incident categories that count as finding a scenario of each type
COMPATIBLE: dict[str, frozenset[str]] = {
    "waterlogging": frozenset({"waterlogging", "pipe_burst"}),
    "building_fire": frozenset({"fire"}),
    "fire": frozenset({"fire"}),
    "air_pollution": frozenset({"air_pollution"}),
    "traffic_jam": frozenset({"traffic"}),
    "traffic_accident": frozenset({"traffic"}),
    "traffic": frozenset({"traffic"}),
    "crowd_surge": frozenset({"crowd"}),
    "crowd": frozenset({"crowd"}),
    "pipe_burst": frozenset({"pipe_burst", "waterlogging"}),
}
#: the sensor kind a fault hides behind -> the category it would be (wrongly) raised as
FAULT_CATEGORY: dict[str, str] = {
    "water_level": "waterlogging", "rainfall": "waterlogging", "pm25": "air_pollution", "traffic_speed": "traffic",
    "manhole_tilt": "manhole", "smoke": "fire", "water_pressure": "pipe_burst", "passenger_flow": "crowd",
}
#: which scenario type an unmatched incident is charged to in the per-type precision
PRIMARY_TYPE: dict[str, str] = {
    "waterlogging": "waterlogging", "pipe_burst": "pipe_burst", "fire": "building_fire",
    "air_pollution": "air_pollution", "traffic": "traffic_jam", "crowd": "crowd_surge",
}
BANDS = ("strong", "medium", "weak")
GUIDELINE_PER_10MIN = 1.0
FLOOD_PER_10MIN = 10


@dataclass
class IncidentTrack:
    """Everything fusion said about one incident over the run."""

    incident_id: str
    first_seen: float  # event time of the first update (when it opened)
    opened_at: float
    category: str
    cell: str
    cells: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    revisions: int = 0
    #: the sources of the first update: what the incident opened on (the tuning question for false ones)
    opened_on: tuple[str, ...] = ()


def collect(updates: Iterable[IncidentUpdate]) -> dict[str, IncidentTrack]:
    """Fold the update stream per incident (latest category/cell; all cells and subjects ever seen)."""
    out: dict[str, IncidentTrack] = {}
    for u in updates:
        t = out.get(u.incident_id)
        if t is None:
            t = out[u.incident_id] = IncidentTrack(u.incident_id, u.ts, u.opened_at, u.category, u.cell,
                                                   opened_on=tuple(u.sources))
        if u.revision >= t.revisions:
            t.category, t.cell, t.revisions = u.category, u.cell, u.revision
        t.first_seen = min(t.first_seen, u.ts)
        t.opened_at = min(t.opened_at, u.opened_at)
        t.cells.add(u.cell)
        t.cells.update(e.cell for e in u.evidence if e.cell)
        t.subjects.update(e.subject_id for e in u.evidence if e.subject_id)
        t.sources.update(u.sources)
    return out


def type_band(truth: ScenarioTruth) -> str:
    if truth.band in BANDS:
        return truth.band
    return "strong" if truth.strength >= 0.66 else "medium" if truth.strength >= 0.33 else "weak"


def is_fault(truth: ScenarioTruth) -> bool:
    """A labelled instrument fault (must not become an incident), as opposed to a labelled quiet period."""
    return not truth.operational and (truth.type == "sensor_fault" or bool(truth.sensors))


def _compatible(truth: ScenarioTruth, category: str) -> bool:
    if not truth.operational and not is_fault(truth):
        return True  # anything raised inside a labelled quiet period is false
    if not truth.operational:
        kinds = truth.details.get("kind") or truth.details.get("sensor_kind")
        return kinds is None or FAULT_CATEGORY.get(str(kinds)) == category
    return category in COMPATIBLE.get(truth.type, frozenset({truth.type}))


def matches(truth: ScenarioTruth, inc: IncidentTrack, near: set[str], slack_s: float) -> bool:
    if not truth.operational and set(truth.sensors) & inc.subjects:
        return True  # the faulty sensor's own evidence made it into an incident
    if not _compatible(truth, inc.category):
        return False
    if not ((inc.cells | {inc.cell}) & near):
        return False
    return truth.start - slack_s <= inc.opened_at <= truth.end + slack_s


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return float(v[lo] + (v[hi] - v[lo]) * (k - lo))


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass
class Assignment:
    by_truth: dict[str, list[str]]  # scenario id -> incident ids credited to it
    incident_truth: dict[str, str]  # incident id -> scenario id
    unmatched: list[str]  # incident ids matching no scenario at all


def assign(truths: list[ScenarioTruth], incidents: dict[str, IncidentTrack],
           neighbours: Callable[[str], Iterable[str]], slack_s: float) -> Assignment:
    """Credit each incident to its best-matching scenario (operational ones before faults)."""
    near = {t.scenario_id: {n for c in t.cells for n in neighbours(c)} | set(t.cells) for t in truths}
    by_truth: dict[str, list[str]] = {t.scenario_id: [] for t in truths}
    incident_truth: dict[str, str] = {}
    unmatched: list[str] = []
    for iid in sorted(incidents, key=lambda i: (incidents[i].opened_at, i)):
        inc = incidents[iid]
        cands = [t for t in truths if matches(t, inc, near[t.scenario_id], slack_s)]
        if not cands:
            unmatched.append(iid)
            continue
        best = min(cands, key=lambda t: (not t.operational, not is_fault(t), inc.category not in COMPATIBLE.get(t.type, {t.type}),
                                         abs(inc.opened_at - t.start), t.scenario_id))
        by_truth[best.scenario_id].append(iid)
        incident_truth[iid] = best.scenario_id
    return Assignment(by_truth, incident_truth, unmatched)


def _group_stats(truths: list[ScenarioTruth], incidents: dict[str, IncidentTrack], asg: Assignment,
                 false_ids: list[str]) -> dict[str, Any]:
    ops = [t for t in truths if t.operational]
    faults = [t for t in truths if is_fault(t)]
    quiet = [t for t in truths if not t.operational and not is_fault(t)]
    false_ids = list(false_ids) + [i for t in quiet for i in asg.by_truth[t.scenario_id]]
    detected = [t for t in ops if asg.by_truth[t.scenario_id]]
    tp = sum(len(asg.by_truth[t.scenario_id]) for t in ops)
    fault_inc = sum(len(asg.by_truth[t.scenario_id]) for t in faults)
    delays = [max(0.0, min(incidents[i].opened_at for i in asg.by_truth[t.scenario_id]) - t.start) for t in detected]
    bands: dict[str, dict[str, Any]] = {}
    for b in BANDS:
        in_b = [t for t in ops if type_band(t) == b]
        bands[b] = {"n": len(in_b), "detected": sum(1 for t in in_b if asg.by_truth[t.scenario_id]),
                    "recall": _ratio(sum(1 for t in in_b if asg.by_truth[t.scenario_id]), len(in_b))}
    return {
        "scenarios": len(ops), "faults": len(faults), "quiet_periods": len(quiet), "detected": len(detected),
        "recall": _ratio(len(detected), len(ops)),
        "precision": _ratio(tp, tp + fault_inc + len(false_ids)) if ops or false_ids or fault_inc else None,
        "incidents_per_event": _ratio(tp, len(detected)),
        "fault_incident_rate": _ratio(sum(1 for t in faults if asg.by_truth[t.scenario_id]), len(faults)),
        "median_delay_s": _pct(delays, 0.5), "p90_delay_s": _pct(delays, 0.9),
        "true_incidents": tp, "fault_incidents": fault_inc, "false_incidents": len(false_ids),
        "recall_by_band": bands,
    }


def operator_load(incidents: dict[str, IncidentTrack], t0: float, t1: float) -> dict[str, Any]:
    """Incidents opened per 10-minute bin over the run vs the alarm-management guideline."""
    n_bins = max(1, int(math.ceil((t1 - t0) / 600.0)))
    bins = [0] * n_bins
    for inc in incidents.values():
        k = int((inc.opened_at - t0) // 600)
        if 0 <= k < n_bins:
            bins[k] += 1
    return {
        "bins": n_bins, "mean_per_10min": sum(bins) / n_bins, "p95_per_10min": _pct([float(b) for b in bins], 0.95),
        "max_per_10min": max(bins), "share_bins_above_guideline": sum(b > GUIDELINE_PER_10MIN for b in bins) / n_bins,
        "flood_bins": sum(b > FLOOD_PER_10MIN for b in bins), "guideline_per_10min": GUIDELINE_PER_10MIN,
        "flood_threshold_per_10min": FLOOD_PER_10MIN,
    }


def score(truths: list[ScenarioTruth], updates: Iterable[IncidentUpdate],
          neighbours: Callable[[str], Iterable[str]], *, n_sensors: int, t0: float, t1: float,
          slack_s: float = 1800.0) -> dict[str, Any]:
    """The full report: overall, by_type (same keys), operator load and per-band recall."""
    incidents = collect(updates)
    asg = assign(truths, incidents, neighbours, slack_s)
    days = max(1e-9, (t1 - t0) / 86_400.0)
    overall = _group_stats(truths, incidents, asg, asg.unmatched)
    overall["false_per_1000_sensors_day"] = overall["false_incidents"] / max(1e-9, n_sensors / 1000.0) / days
    overall["incidents"] = len(incidents)
    by_type: dict[str, Any] = {}
    charged: dict[str, list[str]] = defaultdict(list)
    for iid in asg.unmatched:
        charged[PRIMARY_TYPE.get(incidents[iid].category, "other")].append(iid)
    for typ in sorted({t.type for t in truths} | set(charged)):
        group = [t for t in truths if t.type == typ]
        stats = _group_stats(group, incidents, asg, charged.get(typ, []))
        stats["false_per_1000_sensors_day"] = stats["false_incidents"] / max(1e-9, n_sensors / 1000.0) / days
        by_type[typ] = stats
    return {
        "overall": overall, "by_type": by_type, "operator_load": operator_load(incidents, t0, t1),
        "run": {"t0": t0, "t1": t1, "days": days, "sensors": n_sensors, "slack_s": slack_s,
                "unmatched_by_category": {c: sum(1 for i in asg.unmatched if incidents[i].category == c)
                                          for c in sorted({incidents[i].category for i in asg.unmatched})},
                "false_by_opening": false_by_opening(incidents, asg.unmatched)},
    }


def false_by_opening(incidents: dict[str, IncidentTrack], unmatched: Iterable[str]) -> dict[str, int]:
    """Unmatched incidents counted by "category: sources it opened on" (e.g. "waterlogging: sensor")."""
    out: dict[str, int] = defaultdict(int)
    for iid in unmatched:
        inc = incidents[iid]
        out[f"{inc.category}: {'+'.join(inc.opened_on) or '-'}"] += 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f}%"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def table(report: dict[str, Any]) -> str:
    """The human table: one row per scenario type and overall, then load and bands."""
    head = (f"{'type':<16}{'n':>5}{'found':>6}{'recall':>8}{'prec':>8}{'inc/ev':>8}{'faults':>8}"
            f"{'med s':>8}{'p90 s':>8}{'FP/1k/d':>9}")
    lines = [head, "-" * len(head)]
    rows = list(report["by_type"].items()) + [("OVERALL", report["overall"])]
    for name, s in rows:
        lines.append(f"{name:<16}{s['scenarios'] + s['faults'] + s['quiet_periods']:>5}{s['detected']:>6}{_f(s['recall'], True):>8}"
                     f"{_f(s['precision'], True):>8}{_f(s['incidents_per_event']):>8}"
                     f"{_f(s['fault_incident_rate'], True):>8}{_f(s['median_delay_s']):>8}{_f(s['p90_delay_s']):>8}"
                     f"{_f(s.get('false_per_1000_sensors_day')):>9}")
    load = report["operator_load"]
    lines.append("")
    lines.append(f"operator load: mean {load['mean_per_10min']:.2f}/10 min, p95 {_f(load['p95_per_10min'])}, "
                 f"max {load['max_per_10min']} (guideline ~{GUIDELINE_PER_10MIN:g}; flood > {FLOOD_PER_10MIN}: "
                 f"{load['flood_bins']} bins); {100 * load['share_bins_above_guideline']:.1f}% of bins above guideline")
    bands = report["overall"]["recall_by_band"]
    lines.append("recall by strength band: " + ", ".join(
        f"{b} {_f(bands[b]['recall'], True)} ({bands[b]['detected']}/{bands[b]['n']})" for b in BANDS))
    if report["run"].get("false_by_opening"):
        lines.append("unmatched incidents by what opened them: " + ", ".join(
            f"{k} {n}" for k, n in report["run"]["false_by_opening"].items()))
    if report["run"].get("unmatched_by_category"):
        lines.append("unmatched incidents by category: " + ", ".join(
            f"{c} {n}" for c, n in report["run"]["unmatched_by_category"].items()))
    return "\n".join(lines)
