"""Assignment policies: which free unit goes to which waiting request.

A `Request` is one unit needed by one call (a call needing an engine and a medic makes two). Every
policy sees the same inputs at a decision moment — the waiting requests, the free units and an ETA
function — and returns (request, unit) pairs; the caller applies them.

- `Nearest`: what every CAD ships. Requests in arrival order, each takes the free unit of its type
  with the smallest ETA; when none is free the request waits (first come, first served).
- `Optimised`: priority-aware batch assignment. Requests are valued by what a unit sent now buys:
  the first unit of a call counts far more than reinforcements, a call that can still make its target
  more than one already late, emergencies more than non-emergencies; waiting time is valued too so no
  one starves. Units and requests of a type are matched jointly with the Hungarian method
  (`scipy.optimize.linear_sum_assignment`), the cost being the ETA plus a coverage penalty for pulling
  the last nearby unit out of an area where calls are expected (demand learnt online from the calls
  seen so far, never from the future). Idle units are relocated towards uncovered, busy areas
  (`relocate`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class Request:
    rid: int
    call: int  # index of the call it belongs to
    utype: str
    lat: float
    lon: float
    ready: float  # when it became dispatchable
    deadline: float  # received + target of the call's priority
    urgent: bool  # emergency priority
    primary: bool = True  # no unit of its call is on the way yet
    area: int = -1  # the station area the call is in


@dataclass
class UnitView:
    uid: int
    utype: str
    lat: float
    lon: float
    area: int  # area it is in now
    home_area: int = -1


EtaFn = Callable[[Sequence[UnitView], Request], np.ndarray]


class Nearest:
    name = "nearest"

    def assign(self, now: float, pending: list[Request], free: list[UnitView], eta: EtaFn,
               ctx: "Context | None" = None) -> list[tuple[Request, UnitView]]:
        out = []
        pool: dict[str, list[UnitView]] = {}
        for u in free:
            pool.setdefault(u.utype, []).append(u)
        for r in sorted(pending, key=lambda r: (r.ready, r.rid)):
            cands = pool.get(r.utype)
            if not cands:
                continue
            k = int(np.argmin(eta(cands, r)))
            out.append((r, cands.pop(k)))
        return out

    def relocate(self, now: float, idle: list[UnitView], ctx: "Context") -> list[tuple[UnitView, int]]:
        return []


@dataclass
class Context:
    """What a policy may know besides the current requests: area geometry and demand seen so far."""

    area_lat: np.ndarray
    area_lon: np.ndarray
    area_eta: np.ndarray  # seconds between area centres [from, to]
    #: per unit type, exponentially decayed count of requests per area (online demand estimate)
    demand: dict[str, np.ndarray] = field(default_factory=dict)
    last_decay: float = 0.0
    half_life_s: float = 6 * 3600.0

    def observe(self, now: float, utype: str, area: int) -> None:
        self._decay(now)
        d = self.demand.setdefault(utype, np.zeros(len(self.area_lat)))
        if area >= 0:
            d[area] += 1.0

    def _decay(self, now: float) -> None:
        if now > self.last_decay:
            f = 0.5 ** ((now - self.last_decay) / self.half_life_s)
            for d in self.demand.values():
                d *= f
            self.last_decay = now

    def rate(self, utype: str) -> np.ndarray:
        """Expected requests per hour per area for this type (decayed counts over the half-life)."""
        d = self.demand.get(utype)
        if d is None:
            return np.zeros(len(self.area_lat))
        return d / (self.half_life_s / 3600.0 / np.log(2))


@dataclass
class Optimised:
    name: str = "optimised"
    #: value (in seconds of ETA) of sending the first unit of a call that can still be on time: so large
    #: that such a response always comes first (tuned on halves of the SFFD week; 20k-100k behave alike)
    on_time_value: float = 100_000.0
    #: value of the first unit for a call that will be late anyway, per second already waited
    wait_value: float = 1.0
    #: reinforcements (not the call's first unit) are worth this fraction of a first unit
    reinforcement_factor: float = 0.1
    #: seconds of coverage loss that one expected call per hour in an area costs
    coverage_weight: float = 60.0
    #: how many seconds of ETA an on-time first response may give up to keep coverage
    max_detour_s: float = 120.0
    relocation: bool = True

    def assign(self, now: float, pending: list[Request], free: list[UnitView], eta: EtaFn,
               ctx: Context | None = None) -> list[tuple[Request, UnitView]]:
        out: list[tuple[Request, UnitView]] = []
        by_type: dict[str, list[UnitView]] = {}
        for u in free:
            by_type.setdefault(u.utype, []).append(u)
        reqs: dict[str, list[Request]] = {}
        for r in pending:
            if r.utype in by_type:
                reqs.setdefault(r.utype, []).append(r)
        for utype, rs in reqs.items():
            units = by_type[utype]
            out.extend(self._match(now, rs, units, eta, ctx))
        return out

    def _match(self, now: float, rs: list[Request], units: list[UnitView], eta: EtaFn,
               ctx: Context | None) -> list[tuple[Request, UnitView]]:
        etas = np.stack([eta(units, r) for r in rs])  # [requests, units]
        cover = self._coverage_penalty(units, ctx)  # [units]
        value = np.empty_like(etas)
        for i, r in enumerate(rs):
            arrive = now + etas[i]
            on_time = arrive <= r.deadline
            v = np.where(on_time, self.on_time_value * (1.5 if r.urgent else 1.0),
                         self.wait_value * (now - r.ready) + 300.0 * (1.5 if r.urgent else 1.0))
            if not r.primary:
                v = v * self.reinforcement_factor
            value[i] = v
        # coverage only matters when the detour is affordable: cap its effect on an on-time response
        cost = etas + np.minimum(cover[None, :], self.max_detour_s) - value
        # serve a request only when that is worth it: never leave a unit idle while someone waits
        rows, cols = linear_sum_assignment(cost)
        return [(rs[i], units[j]) for i, j in zip(rows, cols)]

    def _coverage_penalty(self, units: list[UnitView], ctx: Context | None) -> np.ndarray:
        """Seconds of expected response lost in the unit's area if it leaves (weighted by demand)."""
        if ctx is None or len(units) < 2 or not self.coverage_weight:
            return np.zeros(len(units))
        rate = ctx.rate(units[0].utype)
        areas = np.array([u.area for u in units])
        to_area = ctx.area_eta[areas]  # [units, areas]: eta from each unit's area to every area
        best = np.argsort(to_area, axis=0)
        first, second = best[0], best[1] if len(units) > 1 else best[0]
        cols = np.arange(to_area.shape[1])
        loss = to_area[second, cols] - to_area[first, cols]  # per area, if its best unit leaves
        pen = np.zeros(len(units))
        np.add.at(pen, first, loss * rate)
        return self.coverage_weight * pen / 60.0

    def relocate(self, now: float, idle: list[UnitView], ctx: Context) -> list[tuple[UnitView, int]]:
        """Move idle units, one at a time per type, to the busiest area that has no unit of that type near."""
        if not self.relocation:
            return []
        moves: list[tuple[UnitView, int]] = []
        by_type: dict[str, list[UnitView]] = {}
        for u in idle:
            by_type.setdefault(u.utype, []).append(u)
        for utype, units in by_type.items():
            rate = ctx.rate(utype)
            if len(units) < 2 or not rate.any():
                continue
            areas = np.array([u.area for u in units])
            cover = ctx.area_eta[areas].min(axis=0)  # best ETA to every area now
            gap = rate * np.maximum(cover - 300.0, 0.0)  # demand poorly covered (> 5 min away)
            target = int(np.argmax(gap))
            if gap[target] <= 0:
                continue
            # move the unit whose own area loses least and is reasonably close to the target
            counts = np.bincount(areas, minlength=len(rate))
            spare = [k for k, u in enumerate(units) if counts[u.area] > 1 or rate[u.area] < rate[target] / 3]
            if not spare:
                continue
            k = min(spare, key=lambda k: ctx.area_eta[units[k].area, target])
            moves.append((units[k], target))
        return moves


POLICIES = {"nearest": Nearest, "optimised": Optimised}


def make_policy(name: str) -> Nearest | Optimised:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}") from None
