"""Where the simulated city's instruments are: sensors, metro stations and cameras placed on the grid.

Placement follows how a real city instruments itself: density falls off from the urban core
(越秀 / 天河 / 海珠 / 荔湾 for Guangzhou; for another city, the smallest districts near the centre
stand in) with secondary peaks at each district's town centre. Per-kind shares of the sensor fleet:

| kind            | share | where                                                   |
| --------------- | ----- | ------------------------------------------------------- |
| water_level     | 20 %  | drains / underpasses, weighted by urbanity              |
| traffic_speed   | 20 %  | road sections, weighted by urbanity                     |
| pm25            | 15 %  | air stations, weighted by urbanity^0.7 (also suburbs)   |
| manhole_tilt    | 14 %  | manholes, weighted by urbanity                          |
| smoke           | 11 %  | buildings, weighted by urbanity^1.3                     |
| rainfall        |  8 %  | rain gauges, nearly uniform (urbanity^0.3)              |
| water_pressure  |  7 %  | water-main nodes, weighted by urbanity^0.8              |
| passenger_flow  |  5 %  | metro stations only (1-2 gates per station)             |

Cameras: weighted by urbanity^1.5, every metro station has at least one; heading uniform, field of
view 60-120°, range 50-150 m. Cameras in one cell are treated as overlapping views.

Place names (streets, estates) are invented per district and stable for a cell (a hash of its id).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from streams.city import City, haversine_m
from streams.schemas import SENSOR_UNITS, CameraInfo, SensorInfo

KINDS: tuple[str, ...] = ("water_level", "rainfall", "pm25", "traffic_speed", "manhole_tilt", "smoke",
                          "water_pressure", "passenger_flow")
KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
KIND_SHARE = {"water_level": 0.20, "traffic_speed": 0.20, "pm25": 0.15, "manhole_tilt": 0.14, "smoke": 0.11,
              "rainfall": 0.08, "water_pressure": 0.07, "passenger_flow": 0.05}
#: exponent on the urbanity weight: how strongly each kind clusters in the core.
KIND_URBAN_EXP = {"water_level": 1.0, "traffic_speed": 1.0, "pm25": 0.7, "manhole_tilt": 1.0, "smoke": 1.3,
                  "rainfall": 0.3, "water_pressure": 0.8}
KIND_CODE = {"water_level": "WL", "rainfall": "RF", "pm25": "PM", "traffic_speed": "TS", "manhole_tilt": "MH",
             "smoke": "SM", "water_pressure": "WP", "passenger_flow": "PF"}
KIND_ZH = {"water_level": "水位计", "rainfall": "雨量计", "pm25": "PM2.5监测点", "traffic_speed": "车速检测器",
           "manhole_tilt": "井盖倾角传感器", "smoke": "烟感", "water_pressure": "管网压力计", "passenger_flow": "客流闸机"}

CORE_DISTRICT_NAMES = ("越秀", "天河", "海珠", "荔湾")

# Invented name stems per district (by name fragment); generic stems for any other city.
_STEMS: dict[str, tuple[str, ...]] = {
    "越秀": ("越华", "仓边", "文德", "大南", "惠福", "光塔", "流花", "登峰", "北秀", "东湖"),
    "天河": ("天润", "龙洞", "棠下", "车陂", "石牌", "员村", "珠吉", "猎德", "林和", "沙河"),
    "海珠": ("江南", "宝岗", "昌岗", "瑞宝", "赤岗", "琶洲", "南洲", "新港", "凤阳", "素社"),
    "荔湾": ("芳村", "西华", "多宝", "逢源", "花地", "冲口", "白鹤", "东漖", "桥中", "彩虹"),
    "白云": ("同和", "京溪", "嘉禾", "棠景", "三元", "石井", "永平", "均禾", "太和", "人和"),
    "黄埔": ("萝岗", "鱼珠", "大沙", "长洲", "夏港", "文冲", "联和", "永和", "九龙", "红山"),
    "番禺": ("市桥", "大石", "钟村", "洛浦", "南村", "沙湾", "石碁", "小谷", "东环", "化龙"),
    "花都": ("新华", "狮岭", "花城", "秀全", "炭步", "赤坭", "花山", "梯面", "新雅", "花东"),
    "南沙": ("黄阁", "横沥", "万顷", "珠江", "大岗", "东涌", "榄核", "龙穴", "蕉门", "金洲"),
    "从化": ("街口", "江埔", "城郊", "太平", "温泉", "良口", "吕田", "鳌头", "流溪", "明珠"),
    "增城": ("荔城", "新塘", "永宁", "石滩", "中新", "朱村", "派潭", "正果", "仙村", "增江"),
}
_GENERIC_STEMS = ("和平", "建设", "胜利", "长安", "新华", "光明", "解放", "人民", "朝阳", "东风", "青年", "幸福")
_ROAD = ("路", "大道", "街", "东路", "西路", "北路", "南路", "大街", "二路", "一横路")
_ESTATE = ("花园", "新村", "小区", "苑", "雅居", "广场", "大厦", "公寓", "家园", "名庭")
_LANDMARK = ("菜市场", "小学", "公园", "地铁站", "隧道", "立交桥下", "商场", "医院", "加油站", "公交站")


def _h(text: str) -> int:
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class Place:
    street: str
    estate: str
    landmark: str

    def address(self, number: int) -> str:
        return f"{self.street}{number}号"


def _stems_for(district_name: str) -> tuple[str, ...]:
    for frag, stems in _STEMS.items():
        if frag in district_name:
            return stems
    return _GENERIC_STEMS


def place_of(cell_id: str, district_name: str) -> Place:
    """The invented street, estate and landmark of a cell (stable: a hash of the cell id)."""
    stems = _stems_for(district_name)
    h = _h(cell_id)
    stem = stems[h % len(stems)]
    stem2 = stems[(h // 7) % len(stems)]
    street = stem + _ROAD[(h // 11) % len(_ROAD)]
    estate = stem2 + _ESTATE[(h // 13) % len(_ESTATE)]
    landmark = stem + _LANDMARK[(h // 17) % len(_LANDMARK)]
    return Place(street, estate, landmark)


@dataclass
class World:
    """The instruments of one simulated city, with numpy arrays per sensor for vectorised generation."""

    city: City
    sensors: list[SensorInfo]
    cameras: list[CameraInfo]
    stations: list[str]  # cell ids with a metro station
    urbanity: dict[str, float]  # cell id -> weight in (0, ~15]
    kind_idx: np.ndarray = field(repr=False)  # int per sensor
    sensor_cell: list[str] = field(repr=False)
    by_cell: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # cell -> sensor indices
    cameras_by_cell: dict[str, list[int]] = field(default_factory=dict, repr=False)
    station_name: dict[str, str] = field(default_factory=dict)

    def sensors_in(self, cells, kind: str | None = None) -> np.ndarray:
        """Indices of sensors (of `kind`, if given) in any of `cells`."""
        parts = [self.by_cell[c] for c in cells if c in self.by_cell]
        idx = np.concatenate(parts) if parts else np.zeros(0, dtype=int)
        if kind is not None:
            idx = idx[self.kind_idx[idx] == KIND_INDEX[kind]]
        return np.sort(idx)

    def cameras_in(self, cells) -> list[int]:
        return sorted(i for c in cells for i in self.cameras_by_cell.get(c, []))

    def cells_with(self, kind: str) -> list[str]:
        k = KIND_INDEX[kind]
        return sorted({self.sensor_cell[i] for i in np.flatnonzero(self.kind_idx == k)})

    def place(self, cell: str) -> Place:
        c = self.city.cells[cell]
        return place_of(cell, self.city.districts[c.district].name)

    def district_name(self, cell: str) -> str:
        return self.city.districts[self.city.cells[cell].district].name


def urbanity(city: City) -> dict[str, float]:
    """A population-density proxy per cell: high in the core, secondary peaks at district centres."""
    core = [d for d in city.districts.values() if any(n in d.name for n in CORE_DISTRICT_NAMES)]
    if not core:  # another city: the smallest districts (by cell count) stand for the core
        sizes = sorted(city.districts.values(), key=lambda d: d.geometry.area)
        core = sizes[: max(1, len(sizes) // 3)]
    core_ids = {d.id for d in core}
    clat = float(np.mean([d.centroid[1] for d in core]))
    clon = float(np.mean([d.centroid[0] for d in core]))
    out: dict[str, float] = {}
    for cid, c in city.cells.items():
        d_core = haversine_m(c.lat, c.lon, clat, clon) / 1000.0
        dc = city.districts[c.district].centroid
        d_town = haversine_m(c.lat, c.lon, dc[1], dc[0]) / 1000.0
        w = 0.25 + 10.0 * math.exp(-d_core / 6.0) + 2.0 * math.exp(-d_town / 3.0)
        if c.district in core_ids:
            w += 4.0
        out[cid] = w
    return out


def _jitter(rng: np.random.Generator, city: City, cell: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points spread inside a cell (cells are `cell_m` squares around their centre)."""
    c = city.cells[cell]
    half_lat = city.cell_m / 111_320.0 / 2
    half_lon = half_lat / math.cos(math.radians(c.lat))
    return (c.lat + rng.uniform(-0.9, 0.9, n) * half_lat, c.lon + rng.uniform(-0.9, 0.9, n) * half_lon)


def allocate(n_sensors: int) -> dict[str, int]:
    """Sensors per kind: the shares of KIND_SHARE, rounded so that they add up to exactly n_sensors."""
    raw = {k: n_sensors * s for k, s in KIND_SHARE.items()}
    counts = {k: int(math.floor(v)) for k, v in raw.items()}
    by_remainder = sorted(raw, key=lambda k: (raw[k] - counts[k], KIND_SHARE[k]), reverse=True)
    for k in by_remainder[: n_sensors - sum(counts.values())]:
        counts[k] += 1
    return counts


def build_world(city: City, seed: int, n_sensors: int = 3000, n_cameras: int = 300) -> World:
    """Place `n_sensors` sensors and `n_cameras` cameras over `city`, deterministically for `seed`."""
    rng = np.random.default_rng([seed, 1])
    cells = list(city.cells)
    urb = urbanity(city)
    w = np.array([urb[c] for c in cells])

    counts = allocate(n_sensors)
    n_pf = counts["passenger_flow"]
    n_stations = min(len(cells), max(2, (n_pf * 2) // 3))
    p_st = w ** 2 / (w ** 2).sum()
    stations = sorted(cells[i] for i in rng.choice(len(cells), size=n_stations, replace=False, p=p_st))

    placed: list[tuple[str, str]] = []  # (kind, cell)
    for kind in KINDS:
        if kind == "passenger_flow":
            chosen = [stations[i % n_stations] for i in range(n_pf)]
        else:
            p = w ** KIND_URBAN_EXP[kind]
            chosen = [cells[i] for i in rng.choice(len(cells), size=counts[kind], p=p / p.sum())]
        placed += [(kind, c) for c in chosen]
    placed.sort(key=lambda kc: (kc[1], KIND_INDEX[kc[0]]))

    sensors: list[SensorInfo] = []
    seq: dict[tuple[str, str], int] = {}
    half = city.cell_m / 111_320.0 / 2
    offs = rng.uniform(-0.9, 0.9, (len(placed), 2)) * half
    for i, (kind, cell) in enumerate(placed):
        n = seq[(kind, cell)] = seq.get((kind, cell), 0) + 1
        c = city.cells[cell]
        lat = c.lat + offs[i, 0]
        lon = c.lon + offs[i, 1] / math.cos(math.radians(c.lat))
        pl = place_of(cell, city.districts[c.district].name)
        sensors.append(SensorInfo(
            sensor_id=f"{KIND_CODE[kind]}-{cell}-{n}", kind=kind, cell=cell, district=c.district,
            lat=round(lat, 6), lon=round(lon, 6), unit=SENSOR_UNITS[kind],
            name=f"{pl.street}{KIND_ZH[kind]}#{n}"))

    p_cam = w ** 1.5
    cam_cells = list(stations) + [cells[i] for i in rng.choice(
        len(cells), size=max(0, n_cameras - len(stations)), p=p_cam / p_cam.sum())]
    cam_cells = sorted(cam_cells[:n_cameras])
    cameras: list[CameraInfo] = []
    cseq: dict[str, int] = {}
    for cell in cam_cells:
        n = cseq[cell] = cseq.get(cell, 0) + 1
        c = city.cells[cell]
        la, lo = _jitter(rng, city, cell, 1)
        pl = place_of(cell, city.districts[c.district].name)
        cameras.append(CameraInfo(
            camera_id=f"CAM-{cell}-{n}", cell=cell, district=c.district, lat=round(float(la[0]), 6),
            lon=round(float(lo[0]), 6), heading_deg=float(rng.uniform(0, 360)) % 360,
            fov_deg=float(rng.uniform(60, 120)), range_m=float(rng.uniform(50, 150)),
            name=f"{pl.street}监控#{n}"))

    kind_idx = np.array([KIND_INDEX[s.kind.value] for s in sensors], dtype=np.int64)
    sensor_cell = [s.cell for s in sensors]
    by_cell: dict[str, list[int]] = {}
    for i, c in enumerate(sensor_cell):
        by_cell.setdefault(c, []).append(i)
    cams_by_cell: dict[str, list[int]] = {}
    for i, cam in enumerate(cameras):
        cams_by_cell.setdefault(cam.cell, []).append(i)
    station_name = {c: place_of(c, city.districts[city.cells[c].district].name).street.rstrip("路街道") + "站"
                    for c in stations}
    return World(city=city, sensors=sensors, cameras=cameras, stations=stations, urbanity=urb,
                 kind_idx=kind_idx, sensor_cell=sensor_cell,
                 by_cell={c: np.array(v, dtype=np.int64) for c, v in by_cell.items()},
                 cameras_by_cell=cams_by_cell, station_name=station_name)
