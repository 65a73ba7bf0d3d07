"""Unit recommendations for one incident: the free units of the needed types, ranked by ETA, with why."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from streams.schemas import Incident

from dispatch.travel import TravelModel, hour_of
from dispatch.units import ROUTING, UnitRecord, needs, on_shift


class FreeIndex:
    """Free units by type, with their positions as arrays, kept up to date one unit at a time."""

    def __init__(self, units: Iterable[UnitRecord] = ()) -> None:
        self.pools: dict[str, dict[str, UnitRecord]] = {}
        self._type_of: dict[str, str] = {}
        self._arrays: dict[str, tuple[list[UnitRecord], np.ndarray, np.ndarray]] = {}
        self._shifted: dict[str, bool] = {}
        for u in units:
            self.update(u)

    def update(self, u: UnitRecord) -> None:
        """Call after any change of `u` (status, job, position, type)."""
        old = self._type_of.pop(u.unit_id, None)
        if old is not None:
            self.pools[old].pop(u.unit_id, None)
            self._arrays.pop(old, None)
            self._shifted.pop(old, None)
        if u.free:
            t = u.info.type.value
            self.pools.setdefault(t, {})[u.unit_id] = u
            self._type_of[u.unit_id] = t
            self._arrays.pop(t, None)
            self._shifted.pop(t, None)

    def shifted(self, utype: str) -> bool:
        """Whether any free unit of this type works a limited shift (then each must be checked)."""
        if utype not in self._shifted:
            self._shifted[utype] = any(u.info.shift not in ("", "24h") for u in self.arrays(utype)[0])
        return self._shifted[utype]

    def arrays(self, utype: str) -> tuple[list[UnitRecord], np.ndarray, np.ndarray]:
        a = self._arrays.get(utype)
        if a is None:
            recs = sorted(self.pools.get(utype, {}).values(), key=lambda u: u.unit_id)
            a = self._arrays[utype] = (recs, np.array([u.lat for u in recs]), np.array([u.lon for u in recs]))
        return a


def recommend(incident: Incident, free: FreeIndex, travel: TravelModel,
              now: float, per_type_extra: int = 1, rules: dict | None = None) -> list[dict]:
    """Ranked candidates: for each needed type, the `count + per_type_extra` closest free units."""
    hour = hour_of(now)
    out: list[dict] = []
    for utype, count in needs(incident.category, incident.priority, rules or ROUTING):
        recs, lats, lons = free.arrays(utype.value)
        if not recs:
            out.append({"unit_id": None, "type": utype.value, "eta_s": None, "rank": len(out) + 1,
                        "why": f"no free {utype.value} (need {count} for {incident.category} P{incident.priority})"})
            continue
        # rank by a cheap planar distance (stable on unit id), then price only the few kept
        d2 = (lats - incident.lat) ** 2 + ((lons - incident.lon) * math.cos(math.radians(incident.lat))) ** 2
        if free.shifted(utype.value):
            d2 = np.where([on_shift(u.info.shift, now) for u in recs], d2, np.inf)
        k = min(int(np.isfinite(d2).sum()), count + per_type_extra)
        if k == 0:
            out.append({"unit_id": None, "type": utype.value, "eta_s": None, "rank": len(out) + 1,
                        "why": f"no {utype.value} on shift now (need {count})"})
            continue
        near = np.argsort(d2, kind="stable")[:k]
        scored = [(travel.eta_s(recs[j].lat, recs[j].lon, incident.lat, incident.lon, hour, incident.district), recs[j])
                  for j in near]
        for i, (eta, u) in enumerate(scored):
            role = "needed" if i < count else "alternative"
            out.append({"unit_id": u.unit_id, "type": utype.value, "eta_s": round(eta, 1), "rank": len(out) + 1,
                        "district": u.info.district,
                        "why": f"{role}: {utype.value} #{i + 1} of {count} for {incident.category} P{incident.priority}; "
                               f"ETA {eta / 60:.1f} min from {'base' if u.lat == u.info.home_lat else 'last position'}"
                               f" ({u.info.district}), {u.status.value}"})
    return out
