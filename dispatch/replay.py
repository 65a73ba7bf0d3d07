"""Replay real calls for service (an SFFD export) through the dispatch engine in simulated time.

The fleet comes from the file: every unit id seen, its type, its station (the digits of its id) and the
station area's location (median of that area's calls). `fleet_scale` keeps that fraction of each type,
spread evenly over stations. Each call needs the unit types that really went (an engine and a medic,
...); call-taking delay, turnout and time on scene are the real ones from the file, travel comes from
`dispatch.travel`. A policy decides which free unit answers which waiting request; the incident
itself goes through `dispatch.engine.Engine` (opened, assigned, units en route / on scene / returning,
resolved), so the replay exercises the same core as the live service.

Response time = call received → first unit on scene, including any wait for a free unit. A call is
late when that exceeds its priority's target (`TARGETS_S`).
"""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dispatch.engine import Engine
from dispatch.policies import Context, Nearest, Optimised, Request, UnitView, make_policy
from dispatch.sffd import Call, UnitResponse, read_calls
from dispatch.travel import TravelModel
from streams.schemas import (CommandAction, DispatchCommand, EvidenceItem, IncidentUpdate, UnitInfo, UnitState,
                             UnitStatus, UnitType)

#: Response targets (received → first on scene). SFFD priority 3 / E / A / 1 are emergencies (lights
#: and sirens): 10 minutes, San Francisco's standard for emergency medical response (90 % within
#: 10 min). Priority 2 (non-emergency): 20 minutes. Unknown codes count as emergencies.
TARGETS_S: dict[str, float] = {"3": 600.0, "E": 600.0, "A": 600.0, "1": 600.0, "2": 1200.0}
EMERGENCY_TARGET_S = 600.0

#: SFFD unit types -> the engine's unit types (the SFFD type stays in `skills`, which is what matching uses).
TYPE_MAP: dict[str, UnitType] = {"ENGINE": UnitType.FIRE_ENGINE, "TRUCK": UnitType.FIRE_ENGINE,
                                 "MEDIC": UnitType.AMBULANCE, "PRIVATE": UnitType.AMBULANCE,
                                 "RESCUE CAPTAIN": UnitType.AMBULANCE, "RESCUE SQUAD": UnitType.FIRE_ENGINE,
                                 "CHIEF": UnitType.POLICE}
MIN_SERVICE_S, MAX_SERVICE_S = 60.0, 4 * 3600.0
RELOCATE_EVERY_S = 300.0  # how often idle units are reconsidered for relocation
DEFAULT_TURNOUT_S = 49.0  # median dispatch → en route of the shared SFFD week


@dataclass
class SimUnit:
    uid: int
    unit_id: str
    utype: str
    station: str
    home: tuple[float, float]
    home_area: int
    lat: float = 0.0
    lon: float = 0.0
    free_at: float = 0.0
    busy: bool = False
    busy_s: float = 0.0
    epoch: int = 0  # bumps on every dispatch or move, so stale "arrived home" / "moved" events are ignored
    moving: bool = False  # being relocated (not re-planned until it arrives)
    area: int = -1  # the station area it is in now


@dataclass
class Fleet:
    units: list[SimUnit]
    area_ids: list[str]
    area_lat: np.ndarray
    area_lon: np.ndarray


@dataclass
class ReplayResult:
    policy: str
    calls: int
    mean_response_s: float
    p50_response_s: float
    p90_response_s: float
    late_fraction: float
    utilisation: float
    fleet_units: int = 0
    fleet_scale: float = 1.0
    calls_without_arrival: int = 0
    late_by_priority: dict[str, float] = field(default_factory=dict)
    targets_s: dict[str, float] = field(default_factory=lambda: dict(TARGETS_S))
    engine_incidents: int = 0
    engine_refusals: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


# ---------------------------------------------------------------- fleet

def derive_fleet(calls: list[Call], scale: float = 1.0) -> Fleet:
    """Units, types and station areas seen in the file; keep `scale` of each type spread over stations."""
    by_area: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for c in calls:
        by_area[c.station_area or "?"].append((c.lat, c.lon))
    area_ids = sorted(by_area)
    centre = {a: tuple(np.median(np.array(by_area[a]), axis=0)) for a in area_ids}
    seen: dict[str, tuple[str, str, list[tuple[float, float]]]] = {}
    for c in calls:
        for u in c.units:
            if u.unit_id not in seen:
                seen[u.unit_id] = (u.unit_type, u.station, [])
            seen[u.unit_id][2].append((c.lat, c.lon))
    area_lat = np.array([centre[a][0] for a in area_ids])
    area_lon = np.array([centre[a][1] for a in area_ids])
    units: list[SimUnit] = []
    by_type: dict[str, list[str]] = defaultdict(list)
    for uid, (utype, _, _) in seen.items():
        by_type[utype].append(uid)
    for utype, ids in sorted(by_type.items()):
        ids.sort(key=lambda x: (seen[x][1].zfill(4), x))
        keep = max(1, int(round(len(ids) * scale))) if scale < 1 else len(ids)
        picks = sorted({int(i) for i in np.floor(np.arange(keep) * len(ids) / keep)})
        for i in picks:
            uid = ids[i]
            _, station, places = seen[uid]
            home = centre[station] if station in centre else tuple(np.median(np.array(places), axis=0))
            area = nearest_area(home[0], home[1], area_lat, area_lon)
            units.append(SimUnit(len(units), uid, utype, station, (float(home[0]), float(home[1])), area,
                                 float(home[0]), float(home[1]), area=area))
    return Fleet(units, area_ids, area_lat, area_lon)


def nearest_area(lat: float, lon: float, area_lat: np.ndarray, area_lon: np.ndarray) -> int:
    return int(np.argmin((area_lat - lat) ** 2 + ((area_lon - lon) * np.cos(np.radians(lat))) ** 2))


# ---------------------------------------------------------------- simulation

@dataclass
class _CallState:
    call: Call
    target: float
    area: int
    requests: list[Request] = field(default_factory=list)
    specs: dict[int, UnitResponse] = field(default_factory=dict)  # request id -> the real response it mirrors
    first_on_scene: float | None = None
    assigned: int = 0
    open_units: int = 0
    done_requests: int = 0


class Replay:
    """One simulated run of one policy over a list of calls."""

    def __init__(self, calls: list[Call], policy: Nearest | Optimised, fleet_scale: float = 1.0,
                 travel: TravelModel | None = None, use_engine: bool = True, speedup: float = 0.0) -> None:
        self.calls = calls
        self.policy = policy
        self.fleet = derive_fleet(calls, fleet_scale)
        self.scale = fleet_scale
        self.travel = travel or TravelModel(district_factors={})
        self.speedup = speedup
        self.engine = Engine(travel=self.travel) if use_engine else None
        self.units = self.fleet.units
        types = {u.utype for u in self.units}
        self.types = types
        a_lat, a_lon = self.fleet.area_lat, self.fleet.area_lon
        n = len(a_lat)
        area_eta = np.zeros((n, n))
        for i in range(n):
            area_eta[i] = self.travel.eta_many(a_lat, a_lon, float(a_lat[i]), float(a_lon[i]))
        self.ctx = Context(a_lat, a_lon, area_eta.T.copy())  # [from, to]
        self.heap: list[tuple[float, int, str, tuple]] = []
        self._seq = 0
        self.pending: list[Request] = []
        self.states: list[_CallState] = []
        self.refusals = 0
        self._next_relocation = 0.0
        self._rids = itertools.count()

    # -- plumbing
    def _push(self, t: float, kind: str, payload: tuple) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (t, self._seq, kind, payload))

    def _eta(self, units, r: Request) -> np.ndarray:
        lats = np.fromiter((u.lat for u in units), float, len(units))
        lons = np.fromiter((u.lon for u in units), float, len(units))
        hour = int(self.now // 3600) % 24
        return self.travel.eta_many(lats, lons, r.lat, r.lon, hour) + DEFAULT_TURNOUT_S

    def _engine(self, msg, now: float) -> None:
        if self.engine is None:
            return
        out = self.engine.apply(msg, now)
        self.refusals += sum(1 for e in out.events if e.kind.value == "command_refused")

    # -- run
    def run(self) -> ReplayResult:
        t0 = time.perf_counter()
        if self.engine is not None:
            for u in self.units:
                self._engine(UnitInfo(unit_id=u.unit_id, type=TYPE_MAP.get(u.utype, UnitType.FIRE_ENGINE),
                                      skills=[u.utype], district=u.station or "?", home_lat=u.home[0],
                                      home_lon=u.home[1]), 0.0)
        for i, c in enumerate(self.calls):
            self._push(c.received + max(0.0, c.units[0].dispatch - c.received if c.units else 0.0), "ready", (i,))
        start = self.calls[0].received if self.calls else 0.0
        end = start
        wall0 = time.monotonic()
        while self.heap:
            t, _, kind, payload = heapq.heappop(self.heap)
            self.now = t
            end = max(end, t)
            if self.speedup > 0:
                delay = (t - start) / self.speedup - (time.monotonic() - wall0)
                if delay > 0:
                    time.sleep(delay)
            getattr(self, f"_on_{kind}")(t, *payload)
            if not self.heap or self.heap[0][0] > t:  # decide once per instant, after all its events
                self._decide(t)
        return self._result(start, end, time.perf_counter() - t0)

    def _on_ready(self, t: float, i: int) -> None:
        c = self.calls[i]
        area = nearest_area(c.lat, c.lon, self.fleet.area_lat, self.fleet.area_lon)
        st = _CallState(c, TARGETS_S.get(c.priority, EMERGENCY_TARGET_S), area)
        self.states.append(st)
        ci = len(self.states) - 1
        needs = [(u.unit_type, u) for u in c.units if u.unit_type in self.types]
        if not needs and c.units:  # a type this fleet lacks: the most common type stands in
            needs = [(max(self.types, key=lambda x: sum(u.utype == x for u in self.units)), c.units[0])]
        for utype, spec in needs:
            r = Request(rid=next(self._rids), call=ci, utype=utype, lat=c.lat, lon=c.lon, ready=t,
                        deadline=c.received + st.target, urgent=st.target <= EMERGENCY_TARGET_S, area=area)
            st.requests.append(r)
            st.specs[r.rid] = spec
            self.pending.append(r)
            self.ctx.observe(t, utype, area)
        self._engine(IncidentUpdate(
            incident_id=c.call_id, revision=1, ts=c.received, category="fire" if c.group in ("Fire", "Alarm") else "public_safety",
            severity=3 if st.target <= EMERGENCY_TARGET_S else 2, priority=1 if st.target <= EMERGENCY_TARGET_S else 3,
            cell=st.call.station_area or "?", district=c.battalion or "?", lat=c.lat, lon=c.lon, opened_at=c.received,
            why=f"SFFD call {c.call_id}: {c.call_type}", sources=["hotline"],
            evidence=[EvidenceItem(alert_id=f"call-{c.call_id}", source="hotline", ts=c.received, reason=c.call_type)]), t)

    def _decide(self, t: float) -> None:
        free = [u for u in self.units if not u.busy]
        if self.pending and free:
            views = [UnitView(u.uid, u.utype, u.lat, u.lon, u.area, u.home_area) for u in free]
            for r, v in self.policy.assign(t, self.pending, views, self._eta, self.ctx):
                self._dispatch(t, r, self.units[v.uid])
        if self.pending or t < self._next_relocation or not isinstance(self.policy, Optimised):
            return
        self._next_relocation = t + RELOCATE_EVERY_S
        idle = [u for u in self.units if not u.busy and not u.moving]
        if idle:
            views = [UnitView(u.uid, u.utype, u.lat, u.lon, u.area, u.home_area) for u in idle]
            for v, area in self.policy.relocate(t, views, self.ctx):
                self._relocate(t, self.units[v.uid], area)

    def _place(self, u: SimUnit, lat: float, lon: float, area: int | None = None) -> None:
        u.lat, u.lon = lat, lon
        u.area = area if area is not None else nearest_area(lat, lon, self.fleet.area_lat, self.fleet.area_lon)

    def _relocate(self, t: float, u: SimUnit, area: int) -> None:
        """Send an idle unit to another area; it stays dispatchable from where it was until it gets there."""
        lat, lon = float(self.fleet.area_lat[area]), float(self.fleet.area_lon[area])
        u.epoch += 1
        u.moving = True
        self._push(t + self.travel.eta_s(u.lat, u.lon, lat, lon, int(t // 3600) % 24), "moved", (u.uid, u.epoch, lat, lon))

    def _on_moved(self, t: float, uid: int, epoch: int, lat: float, lon: float) -> None:
        u = self.units[uid]
        if u.epoch == epoch and not u.busy:
            self._place(u, lat, lon)
            u.moving = False
            self._engine(UnitStatus(unit_id=u.unit_id, ts=t, status=UnitState.AVAILABLE, lat=lat, lon=lon), t)

    def _dispatch(self, t: float, r: Request, u: SimUnit) -> None:
        self.pending.remove(r)
        st = self.states[r.call]
        for other in st.requests:
            other.primary = False
        eta = float(self._eta([u], r)[0])
        spec = st.specs[r.rid]
        u.busy, u.epoch, u.moving = True, u.epoch + 1, False
        st.assigned += 1
        st.open_units += 1
        self._engine(DispatchCommand(command_id=f"{st.call.call_id}:{r.rid}", ts=t, actor=f"policy:{self.policy.name}",
                                     action=CommandAction.ASSIGN, incident_id=st.call.call_id,
                                     unit_ids=[u.unit_id]), t)
        if spec.on_scene is not None:
            service = min(MAX_SERVICE_S, max(MIN_SERVICE_S, (spec.available or spec.on_scene) - spec.on_scene))
            self._push(t + eta, "arrive", (r.call, u.uid, u.epoch))
            self._push(t + eta + service, "clear", (r.call, u.uid, u.epoch, t))
        else:  # the real response was cancelled before arriving: the unit is busy as long as it really was
            busy = min(MAX_SERVICE_S, max(MIN_SERVICE_S, (spec.available or spec.dispatch) - spec.dispatch))
            self._push(t + busy, "clear", (r.call, u.uid, u.epoch, t))

    def _on_arrive(self, t: float, ci: int, uid: int, epoch: int) -> None:
        st, u = self.states[ci], self.units[uid]
        self._place(u, st.call.lat, st.call.lon, st.area)
        if st.first_on_scene is None:
            st.first_on_scene = t
        self._engine(UnitStatus(unit_id=u.unit_id, ts=t, status=UnitState.ON_SCENE, lat=u.lat, lon=u.lon,
                                incident_id=st.call.call_id), t)

    def _on_clear(self, t: float, ci: int, uid: int, epoch: int, dispatched: float) -> None:
        st, u = self.states[ci], self.units[uid]
        u.busy = False
        u.busy_s += t - dispatched
        st.open_units -= 1
        self._engine(UnitStatus(unit_id=u.unit_id, ts=t, status=UnitState.RETURNING, incident_id=st.call.call_id), t)
        back = self.travel.eta_s(u.lat, u.lon, u.home[0], u.home[1], int(t // 3600) % 24)
        self._push(t + back, "home", (uid, u.epoch))
        if st.open_units == 0 and st.assigned == len(st.requests) and self.engine is not None:
            inc = self.engine.incidents.get(st.call.call_id)
            if inc is not None and inc.status.value in ("on_scene", "acknowledged", "dispatched", "new"):
                override = inc.status.value != "on_scene"
                self._engine(DispatchCommand(command_id=f"{st.call.call_id}:resolve", ts=t, actor="replay",
                                             action=CommandAction.RESOLVE, incident_id=st.call.call_id,
                                             override=override, reason="all units cleared" if override else ""), t)

    def _on_home(self, t: float, uid: int, epoch: int) -> None:
        u = self.units[uid]
        if u.epoch == epoch and not u.busy:
            self._place(u, u.home[0], u.home[1], u.home_area)
            self._engine(UnitStatus(unit_id=u.unit_id, ts=t, status=UnitState.AVAILABLE, lat=u.lat, lon=u.lon), t)

    # -- figures
    def _result(self, start: float, end: float, wall: float) -> ReplayResult:
        resp, late, by_p = [], [], defaultdict(list)
        for st in self.states:
            if st.first_on_scene is None:
                continue
            rt = st.first_on_scene - st.call.received
            resp.append(rt)
            late.append(rt > st.target)
            by_p[st.call.priority].append(rt > st.target)
        horizon = max(1.0, end - start)
        r = np.array(resp) if resp else np.zeros(1)
        return ReplayResult(
            policy=self.policy.name, calls=len(resp), mean_response_s=float(r.mean()),
            p50_response_s=float(np.percentile(r, 50)), p90_response_s=float(np.percentile(r, 90)),
            late_fraction=float(np.mean(late)) if late else 0.0,
            utilisation=float(sum(u.busy_s for u in self.units) / (len(self.units) * horizon)),
            fleet_units=len(self.units), fleet_scale=self.scale,
            calls_without_arrival=len(self.states) - len(resp),
            late_by_priority={p: round(float(np.mean(v)), 4) for p, v in sorted(by_p.items())},
            engine_incidents=len(self.engine.incidents) if self.engine else 0,
            engine_refusals=self.refusals, wall_s=wall)


def replay_file(path: Path | str, policy: str, fleet_scale: float = 1.0, speedup: float = 0.0,
                use_engine: bool = True) -> ReplayResult:
    calls, _ = read_calls(path)
    if not calls:
        raise ValueError(f"{path}: no usable calls")
    return Replay(calls, make_policy(policy), fleet_scale, use_engine=use_engine, speedup=speedup).run()


def summary_json(res: ReplayResult) -> str:
    return json.dumps(res.to_dict(), indent=2)

