"""The default fleet of a city: stations spread over every district, each with a mix of unit types.

Stations sit on grid cells chosen evenly through each district (farthest-point sampling over its
cells, deterministic), larger districts get more stations. The service publishes this fleet to
`city.registry.units` when the registry is empty and CITYOPS_SEED_FLEET=1.
"""

from __future__ import annotations

import math

from streams.city import City
from streams.schemas import UnitInfo, UnitType

#: Units of each type at every station (a Guangzhou-like mix: many grid workers, fewer specialists).
STATION_MIX: dict[UnitType, int] = {
    UnitType.GRID_WORKER: 4, UnitType.URBAN_MANAGEMENT: 2, UnitType.FIRE_ENGINE: 2, UnitType.AMBULANCE: 2,
    UnitType.POLICE: 2, UnitType.WATER_UTILITY: 1, UnitType.ROAD_WORKS: 1, UnitType.ENVIRONMENT: 1,
}
SKILLS: dict[UnitType, list[str]] = {
    UnitType.FIRE_ENGINE: ["fire", "rescue", "pumping"], UnitType.AMBULANCE: ["medical"],
    UnitType.POLICE: ["traffic", "crowd", "public_safety"], UnitType.WATER_UTILITY: ["pumping", "pipe_repair"],
    UnitType.ROAD_WORKS: ["barriers", "manhole"], UnitType.GRID_WORKER: ["inspection"],
    UnitType.URBAN_MANAGEMENT: ["sanitation", "noise", "inspection"], UnitType.ENVIRONMENT: ["air_sampling"],
}
CELLS_PER_STATION = 150  # ~150 km² of 1 km cells per station, at least two stations per district


def station_cells(city: City, cells_per_station: int = CELLS_PER_STATION) -> dict[str, list[str]]:
    """District id -> the cells its stations stand on."""
    by_d: dict[str, list] = {}
    for c in city.cells.values():
        by_d.setdefault(c.district, []).append(c)
    out: dict[str, list[str]] = {}
    for did, cells in sorted(by_d.items()):
        k = max(min(2, len(cells)), min(len(cells), round(len(cells) / cells_per_station)))
        lat0 = sum(c.lat for c in cells) / len(cells)
        lon0 = sum(c.lon for c in cells) / len(cells)
        # start at the cell nearest the district's centre, then farthest-point sampling
        chosen = [min(cells, key=lambda c: (c.lat - lat0) ** 2 + (c.lon - lon0) ** 2)]
        kx = math.cos(math.radians(lat0)) ** 2
        while len(chosen) < k:
            chosen.append(max(cells, key=lambda c: min((c.lat - s.lat) ** 2 + kx * (c.lon - s.lon) ** 2
                                                       for s in chosen)))
        out[did] = [c.id for c in chosen]
    return out


def default_fleet(city: City, mix: dict[UnitType, int] | None = None) -> list[UnitInfo]:
    """Every unit of the default fleet, with ids like `D440104-S1-fire_engine-2`."""
    mix = mix or STATION_MIX
    units: list[UnitInfo] = []
    for did, cells in station_cells(city).items():
        dname = city.districts[did].name if did in city.districts else did
        for s, cid in enumerate(cells, 1):
            cell = city.cells[cid]
            for utype, n in mix.items():
                for i in range(1, n + 1):
                    units.append(UnitInfo(unit_id=f"D{did}-S{s}-{utype.value}-{i}", type=utype,
                                          skills=SKILLS.get(utype, []), name=f"{dname} {s}站 {utype.value} {i}",
                                          district=did, home_lat=cell.lat, home_lon=cell.lon))
    return units
