"""Automatic assignment in the live engine: the replay's policies applied to incidents nobody has dispatched yet.

Each needed unit (routing rules) of an open, never-dispatched incident becomes a `Request`; the chosen
policy matches them with the free units, and every incident's units go out as ONE `assign` command
with actor `auto:<policy>` and a deterministic id, through `Engine.apply` — so it is audited, applied
once, and a dispatcher can reassign or unassign afterwards (an incident dispatched once is left to people).
"""

from __future__ import annotations

import numpy as np

from streams.schemas import CommandAction, DispatchCommand, IncidentStatus

from dispatch.engine import Engine
from dispatch.policies import Nearest, Optimised, Request, UnitView
from dispatch.store import Outcome
from dispatch.travel import hour_of
from dispatch.units import needs, on_shift


def auto_assign(engine: Engine, policy: Nearest | Optimised, now: float) -> Outcome:
    """Assign free units to waiting incidents with `policy`; returns what the engine changed."""
    incs = [i for i in engine.open_incidents()
            if i.status in (IncidentStatus.NEW, IncidentStatus.ACKNOWLEDGED) and i.dispatched_at is None]
    if not incs:
        return Outcome()
    reqs: list[Request] = []
    for ci, inc in enumerate(incs):
        deadline = engine.sla.deadline(inc, "arrival")
        for utype, count in needs(inc.category, inc.priority, engine.rules):
            for _ in range(count):
                reqs.append(Request(len(reqs), ci, utype.value, inc.lat, inc.lon, inc.opened_at, deadline,
                                    urgent=inc.priority <= 2))
    records = [u for pool in engine._free.pools.values() for u in pool.values()  # noqa: SLF001 - same package
               if on_shift(u.info.shift, now)]
    views = [UnitView(k, u.info.type.value, u.lat, u.lon, -1) for k, u in enumerate(records)]
    hour = hour_of(now)

    def eta(units, r: Request) -> np.ndarray:
        lats = np.fromiter((u.lat for u in units), float, len(units))
        lons = np.fromiter((u.lon for u in units), float, len(units))
        return engine.travel.eta_many(lats, lons, r.lat, r.lon, hour, incs[r.call].district)

    chosen: dict[int, list[str]] = {}
    for r, v in policy.assign(now, reqs, views, eta, None):
        chosen.setdefault(r.call, []).append(records[v.uid].unit_id)
    out = Outcome()
    for ci, unit_ids in sorted(chosen.items()):
        inc = incs[ci]
        out.extend(engine.apply(DispatchCommand(
            command_id=f"auto:{policy.name}:{inc.incident_id}:{inc.revision}", ts=now, actor=f"auto:{policy.name}",
            action=CommandAction.ASSIGN, incident_id=inc.incident_id, unit_ids=sorted(unit_ids),
            reason=f"automatic assignment ({policy.name})"), now))
    return out
