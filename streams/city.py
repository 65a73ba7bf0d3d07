"""The city's geometry: districts from a GeoJSON file and a square grid of cells laid over them.

Cells are the unit of place everywhere: messages are keyed by cell id, detectors corroborate across
neighbouring cells, dispatch measures distances between cell centres. A cell id is `r<row>c<col>`
counted from the south-west corner of the city's bounding box.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

EARTH_R_M = 6_371_000.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_R_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class District:
    id: str
    name: str
    name_en: str
    geometry: object  # shapely geometry
    centroid: tuple[float, float]  # (lon, lat)


@dataclass(frozen=True)
class Cell:
    id: str
    row: int
    col: int
    lat: float
    lon: float
    district: str


def cell_id(row: int, col: int) -> str:
    return f"r{row:03d}c{col:03d}"


def parse_cell_id(cid: str) -> tuple[int, int]:
    if len(cid) < 4 or cid[0] != "r" or "c" not in cid:
        raise ValueError(f"not a cell id: {cid!r}")
    r, c = cid[1:].split("c", 1)
    return int(r), int(c)


@dataclass
class City:
    """Districts plus a grid of `cell_m`-metre cells whose centres fall inside some district."""

    name: str
    districts: dict[str, District]
    cell_m: float
    geojson: dict = field(repr=False)

    @classmethod
    def load(cls, path: Path, cell_m: float = 1000.0) -> "City":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        districts: dict[str, District] = {}
        for i, feat in enumerate(data["features"]):
            props = feat.get("properties", {})
            did = str(props.get("id") or props.get("adcode") or i)
            geom = shape(feat["geometry"])
            c = props.get("centroid") or [geom.centroid.x, geom.centroid.y]
            districts[did] = District(did, str(props.get("name", did)), str(props.get("name_en", props.get("name", did))),
                                      geom, (float(c[0]), float(c[1])))
        return cls(name=str(data.get("name", Path(path).stem)), districts=districts, cell_m=cell_m, geojson=data)

    # -- grid ---------------------------------------------------------------------------------
    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        xs = [d.geometry.bounds for d in self.districts.values()]
        return (min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs), max(b[3] for b in xs))

    @cached_property
    def _steps(self) -> tuple[float, float]:
        lat0 = (self.bounds[1] + self.bounds[3]) / 2
        dlat = self.cell_m / 111_320.0
        dlon = self.cell_m / (111_320.0 * math.cos(math.radians(lat0)))
        return dlat, dlon

    @cached_property
    def cells(self) -> dict[str, Cell]:
        minx, miny, maxx, maxy = self.bounds
        dlat, dlon = self._steps
        rows = int(math.ceil((maxy - miny) / dlat))
        cols = int(math.ceil((maxx - minx) / dlon))
        rr, cc = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        lats = miny + (rr.ravel() + 0.5) * dlat
        lons = minx + (cc.ravel() + 0.5) * dlon
        out: dict[str, Cell] = {}
        for did, d in self.districts.items():
            inside = shapely.contains_xy(d.geometry, lons, lats)
            for k in np.flatnonzero(inside):
                r, c = int(rr.ravel()[k]), int(cc.ravel()[k])
                cid = cell_id(r, c)
                if cid not in out:
                    out[cid] = Cell(cid, r, c, float(lats[k]), float(lons[k]), did)
        return dict(sorted(out.items()))

    def cell_at(self, lat: float, lon: float) -> str | None:
        """The cell containing a point, or None outside the city."""
        minx, miny, _, _ = self.bounds
        dlat, dlon = self._steps
        cid = cell_id(int((lat - miny) // dlat), int((lon - minx) // dlon))
        return cid if cid in self.cells else None

    def neighbours(self, cid: str, radius: int = 1) -> list[str]:
        """Cells within `radius` steps (a square ring), the cell itself included."""
        r, c = parse_cell_id(cid)
        out = []
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                n = cell_id(r + dr, c + dc)
                if n in self.cells:
                    out.append(n)
        return out

    def contains(self, lat: float, lon: float) -> bool:
        return self.cell_at(lat, lon) is not None

    def district_of(self, lat: float, lon: float) -> str | None:
        cid = self.cell_at(lat, lon)
        return self.cells[cid].district if cid else None


_CACHE: dict[tuple[str, float], City] = {}


def load_city(path: Path, cell_m: float = 1000.0) -> City:
    """Load (once per process) the city at `path`."""
    key = (str(path), cell_m)
    if key not in _CACHE:
        _CACHE[key] = City.load(path, cell_m)
    return _CACHE[key]
