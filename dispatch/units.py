"""Units and routing rules: the fleet's live state, and which unit types an incident needs.

A `UnitRecord` is a unit's registry entry (`UnitInfo`) plus its live state (status, last position,
the incident it works on). `ROUTING` says, per incident category and priority, which unit types to
send and how many; `needs()` reads it with a sensible fallback for categories it does not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from streams.schemas import UnitInfo, UnitState, UnitStatus
from streams.schemas import UnitType as T

#: States in which a unit can take a new job.
FREE: frozenset[UnitState] = frozenset({UnitState.AVAILABLE, UnitState.RETURNING})


@dataclass
class UnitRecord:
    info: UnitInfo
    status: UnitState = UnitState.AVAILABLE
    lat: float = 0.0
    lon: float = 0.0
    incident_id: str | None = None
    ts: float = 0.0

    @property
    def unit_id(self) -> str:
        return self.info.unit_id

    @property
    def free(self) -> bool:
        return self.status in FREE and self.incident_id is None

    @classmethod
    def new(cls, info: UnitInfo, ts: float = 0.0) -> "UnitRecord":
        return cls(info=info, lat=info.home_lat, lon=info.home_lon, ts=ts)

    def state_json(self) -> str:
        return json.dumps({"status": self.status.value, "lat": self.lat, "lon": self.lon,
                           "incident_id": self.incident_id, "ts": self.ts})

    def to_json(self) -> str:
        return json.dumps({"info": self.info.model_dump(mode="json"), "status": self.status.value, "lat": self.lat,
                           "lon": self.lon, "incident_id": self.incident_id, "ts": self.ts})

    @classmethod
    def from_json(cls, raw: str) -> "UnitRecord":
        d = json.loads(raw)
        return cls(info=UnitInfo.model_validate(d["info"]), status=UnitState(d["status"]), lat=d["lat"],
                   lon=d["lon"], incident_id=d.get("incident_id"), ts=d.get("ts", 0.0))

    def to_status(self) -> UnitStatus:
        return UnitStatus(unit_id=self.unit_id, ts=self.ts, status=self.status, lat=self.lat, lon=self.lon,
                          incident_id=self.incident_id)


def on_shift(shift: str, ts: float, utc_offset_h: float = 8.0) -> bool:
    """Whether a unit with this shift ("24h", "08:00-20:00", "20:00-08:00") works at epoch time `ts`."""
    if not shift or shift.strip().lower() in ("24h", "24/7", "always"):
        return True
    try:
        a, b = (int(x.split(":")[0]) * 60 + int(x.split(":")[1]) for x in shift.strip().split("-"))
    except (ValueError, IndexError):
        return True  # a shift we cannot read must not hide the unit from dispatchers
    m = ((ts + utc_offset_h * 3600) % 86400) // 60
    return a <= m < b if a <= b else (m >= a or m < b)


Need = tuple[T, int]

#: category -> {priority: [(unit type, how many)]}; priority 1 is the most urgent. A priority missing
#: from a category uses the next less urgent one present (so 1 falls back to 2, and so on).
ROUTING: dict[str, dict[int, list[Need]]] = {
    "fire": {1: [(T.FIRE_ENGINE, 3), (T.AMBULANCE, 1), (T.POLICE, 1)], 2: [(T.FIRE_ENGINE, 2), (T.AMBULANCE, 1)],
             3: [(T.FIRE_ENGINE, 1)]},
    "waterlogging": {1: [(T.WATER_UTILITY, 2), (T.ROAD_WORKS, 1), (T.POLICE, 1), (T.FIRE_ENGINE, 1)],
                     2: [(T.WATER_UTILITY, 1), (T.ROAD_WORKS, 1)], 3: [(T.WATER_UTILITY, 1)],
                     4: [(T.GRID_WORKER, 1)]},
    "pipe_burst": {1: [(T.WATER_UTILITY, 2), (T.ROAD_WORKS, 1)], 3: [(T.WATER_UTILITY, 1)]},
    "manhole": {2: [(T.ROAD_WORKS, 1), (T.URBAN_MANAGEMENT, 1)], 4: [(T.URBAN_MANAGEMENT, 1)]},
    "traffic": {1: [(T.POLICE, 2), (T.AMBULANCE, 1), (T.ROAD_WORKS, 1)], 2: [(T.POLICE, 1), (T.AMBULANCE, 1)],
                3: [(T.POLICE, 1)]},
    "crowd": {1: [(T.POLICE, 3), (T.AMBULANCE, 1)], 2: [(T.POLICE, 2)], 3: [(T.POLICE, 1)],
              4: [(T.URBAN_MANAGEMENT, 1)]},
    "public_safety": {1: [(T.POLICE, 2), (T.AMBULANCE, 1)], 2: [(T.POLICE, 1), (T.AMBULANCE, 1)],
                      3: [(T.POLICE, 1)]},
    "air_pollution": {2: [(T.ENVIRONMENT, 1), (T.URBAN_MANAGEMENT, 1)], 3: [(T.ENVIRONMENT, 1)]},
    "noise": {3: [(T.URBAN_MANAGEMENT, 1)], 4: [(T.GRID_WORKER, 1)]},
    "sanitation": {3: [(T.URBAN_MANAGEMENT, 1)], 4: [(T.GRID_WORKER, 1)]},
    "other": {4: [(T.GRID_WORKER, 1)]},
}


def needs(category: str, priority: int, rules: dict[str, dict[int, list[Need]]] | None = None) -> list[Need]:
    """Unit types (and counts) an incident of this category and priority should get."""
    table = (rules or ROUTING).get(category) or (rules or ROUTING)["other"]
    for p in range(priority, 5):
        if p in table:
            return table[p]
    # only more urgent levels are listed: send the least of those
    return table[max(table)]
