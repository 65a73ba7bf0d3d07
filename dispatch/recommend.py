"""Unit recommendations for one incident: the free units of the needed types, ranked by ETA, with why."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from streams.schemas import Incident

from dispatch.travel import TravelModel, hour_of
from dispatch.units import ROUTING, UnitRecord, needs


def recommend(incident: Incident, units: Iterable[UnitRecord], travel: TravelModel, now: float,
              per_type_extra: int = 1, rules: dict | None = None) -> list[dict]:
    """Ranked candidates: for each needed type, the `count + per_type_extra` closest free units."""
    free_by_type: dict[str, list[UnitRecord]] = {}
    for u in units:
        if u.free:
            free_by_type.setdefault(u.info.type.value, []).append(u)
    hour = hour_of(now)
    out: list[dict] = []
    for utype, count in needs(incident.category, incident.priority, rules or ROUTING):
        pool = free_by_type.get(utype.value, [])
        if not pool:
            out.append({"unit_id": None, "type": utype.value, "eta_s": None, "rank": len(out) + 1,
                        "why": f"no free {utype.value} (need {count} for {incident.category} P{incident.priority})"})
            continue
        # rank by a cheap planar distance, then price only the few kept (ETA grows with distance)
        kx = math.cos(math.radians(incident.lat))
        near = heapq.nsmallest(count + per_type_extra, pool, key=lambda u: (
            (u.lat - incident.lat) ** 2 + ((u.lon - incident.lon) * kx) ** 2, u.unit_id))
        scored = [(travel.eta_s(u.lat, u.lon, incident.lat, incident.lon, hour, incident.district), u) for u in near]
        for i, (eta, u) in enumerate(scored):
            role = "needed" if i < count else "alternative"
            out.append({"unit_id": u.unit_id, "type": utype.value, "eta_s": round(eta, 1), "rank": len(out) + 1,
                        "district": u.info.district,
                        "why": f"{role}: {utype.value} #{i + 1} of {count} for {incident.category} P{incident.priority}; "
                               f"ETA {eta / 60:.1f} min from {'base' if u.lat == u.info.home_lat else 'last position'}"
                               f" ({u.info.district}), {u.status.value}"})
    return out
