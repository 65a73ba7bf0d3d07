"""The labelled scenario library: incidents (and non-incidents) injected on top of the background.

Each scenario is built once, deterministically, from (type, cell, start, strength, seed): its sensor
effects (applied per reading tick), its camera tracks and its hotline calls are fixed at build time,
and it carries its `ScenarioTruth` (start = first injected signal, end = last one, affected cells,
the sensors and cameras that carry its signature, and details: category, place, magnitudes in
physical units, counts of calls and video events, and `side_effect_sensors`: sensors it nudges
within normal range, which should not alarm).

Strength s in [0, 1] (1 obvious, 0 barely visible); band: strong s >= 2/3, medium 1/3 <= s < 2/3,
weak s < 1/3. `plan` draws strengths stratified-uniform per type (each band gets a third of every
type). What s means physically (durations drawn uniformly in the ranges given):

- waterlogging (1.5-3.5 h): a rain burst of 3+12s mm/5min peak on the gauges within 3 rings (the
  other drains there rise 3 mm per mm/5min, listed as `side_effect_sensors`); 10 min after the rain
  starts, water level +0.05+0.55s m (5 cm .. 60 cm) in the cell and 30-60 % of that in up to 3s
  neighbour cells. Cameras there (each with p 0.3+0.7s): standing_water, confidence 0.35+0.55s.
  Calls: Poisson(0.5+12 s^1.5).
- building_fire (0.5-1.8 h): smoke 0.3+9.7s² %/m in the cell (background ~0.02 %/m); smoke_fire on
  the cell's cameras (p 0.4+0.6s) and its neighbours' (p 0.2+0.4s). Calls: Poisson(1+12s).
- air_pollution (3.5-6.5 h): PM2.5 +15+135s µg/m³ at the centre with a Gaussian fall-off over 3+5s
  km, on every PM2.5 sensor of the district within twice that (at least the 3 nearest). No video.
  Calls: Poisson(0.3+6s).
- traffic_jam (0.5-1.4 h): speed -(25+65)s % in the cell, half that in up to 2 neighbour cells;
  traffic_accident on the cell's cameras (p 0.4+0.6s). Calls: Poisson(0.5+10s).
- crowd_surge (0.6-1.2 h, in metro hours when scheduled): passenger_flow +(0.3+2.7s) x the
  station's peak flow; crowd on the station's cameras, count 50+550s. Calls: Poisson(0.3+5s).
- pipe_burst (0.6-1.8 h): pressure -(0.2+1.8s) bar in the cell, 40 % of it in neighbour cells;
  water level +0.02+0.15s m in the cell; standing_water on the cell's cameras. Calls: Poisson(1+10s).
- sensor_fault (1-6 h, operational=False): ONE sensor either stuck at normal+0.3s·R, or 1-3
  isolated spikes of +(0.15+0.85s)·R, or a drift to +(0.05+0.45s)·R. No video, no calls.
- noise_only (1-3 h, operational=False): nothing injected; a labelled quiet period over a cell and
  its ring (any incident there is a false one).

R (fault range): water_level 2 m, rainfall 20 mm/5min, pm25 400 µg/m³, traffic_speed -40 km/h,
manhole_tilt 30°, smoke 8 %/m, water_pressure -2.5 bar, passenger_flow 1,500 people/5min.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from streams.city import parse_cell_id
from streams.schemas import HotlineCall, ScenarioTruth, VideoEvent
from streams.simulator.calls import make_call
from streams.simulator.video import track
from streams.simulator.world import KIND_INDEX, KINDS, World

TYPES: tuple[str, ...] = ("waterlogging", "building_fire", "air_pollution", "traffic_jam", "crowd_surge",
                          "pipe_burst", "sensor_fault", "noise_only")
#: incident category each type should raise (None: must raise nothing)
CATEGORY: dict[str, str | None] = {
    "waterlogging": "waterlogging", "building_fire": "fire", "air_pollution": "air_pollution",
    "traffic_jam": "traffic", "crowd_surge": "crowd", "pipe_burst": "pipe_burst",
    "sensor_fault": None, "noise_only": None,
}
#: the sensor kind a scenario is placed next to when it is scheduled
PRIMARY_KIND: dict[str, str | None] = {
    "waterlogging": "water_level", "building_fire": "smoke", "air_pollution": "pm25",
    "traffic_jam": "traffic_speed", "crowd_surge": "passenger_flow", "pipe_burst": "water_pressure",
    "sensor_fault": None, "noise_only": None,
}
FAULT_RANGE = {"water_level": 2.0, "rainfall": 20.0, "pm25": 400.0, "traffic_speed": -40.0,
               "manhole_tilt": 30.0, "smoke": 8.0, "water_pressure": -2.5, "passenger_flow": 1500.0}
FAULT_MODES = ("stuck", "spike", "drift")


def band(strength: float) -> str:
    return "weak" if strength < 1 / 3 else ("medium" if strength < 2 / 3 else "strong")


@dataclass(frozen=True)
class Envelope:
    """0 before `start`, linear rise, hold at 1, linear fall, 0 after."""

    start: float
    rise: float
    hold: float
    fall: float

    @property
    def end(self) -> float:
        return self.start + self.rise + self.hold + self.fall

    def __call__(self, t: float) -> float:
        x = t - self.start
        if x <= 0 or t >= self.end:
            return 0.0
        if x < self.rise:
            return x / self.rise
        if x < self.rise + self.hold:
            return 1.0
        return max(0.0, 1.0 - (x - self.rise - self.hold) / self.fall)


@dataclass
class Effect:
    """One modification of some sensors' values: add / mul (fractional drop) / set / spike / drift."""

    idx: np.ndarray
    gain: np.ndarray
    env: Envelope
    mode: str = "add"
    spikes: tuple[float, ...] = ()

    def apply(self, t: float, v: np.ndarray, interval: float) -> None:
        if self.mode == "spike":
            if any(s <= t < s + interval for s in self.spikes):
                v[self.idx] += self.gain
            return
        if not self.env.start <= t < self.env.end:
            return
        if self.mode == "set":
            v[self.idx] = self.gain
        elif self.mode == "drift":
            v[self.idx] += self.gain * min(1.0, (t - self.env.start) / max(1.0, self.env.end - self.env.start))
        elif self.mode == "mul":
            v[self.idx] *= 1.0 - self.gain * self.env(t)
        else:
            v[self.idx] += self.gain * self.env(t)


@dataclass
class Scenario:
    truth: ScenarioTruth
    effects: list[Effect] = field(default_factory=list)
    video: list[VideoEvent] = field(default_factory=list)
    calls: list[HotlineCall] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.truth.start

    @property
    def end(self) -> float:
        return self.truth.end

    def apply(self, t: float, v: np.ndarray, interval: float) -> None:
        for e in self.effects:
            e.apply(t, v, interval)


@dataclass
class Ctx:
    """What builders need besides the scenario's own parameters."""

    world: World
    base: np.ndarray  # each sensor's background level (streams.simulator.background.Background.base)
    interval: float  # seconds between readings
    seed: int
    offset_s: float = 8 * 3600  # local time = UTC + offset


# ------------------------------------------------------------------ helpers

def _ring(world: World, cell: str, radius: int = 1) -> list[str]:
    return [c for c in world.city.neighbours(cell, radius) if c != cell]


def _cells_dist(a: str, b: str) -> int:
    ra, ca = parse_cell_id(a)
    rb, cb = parse_cell_id(b)
    return max(abs(ra - rb), abs(ca - cb))


def _camera_tracks(ctx: Ctx, rng: np.random.Generator, sid: str, cells: list[str], etype: str, p_see: float,
                   conf: float, t_from: float, t_to: float, count: int | None = None) -> list[VideoEvent]:
    """Each camera of `cells` that sees the scene (probability p_see) reports it as a track of a few
    frames; the analytics engine then loses the object and re-acquires it minutes later under a new
    track id, for as long as the scene is visible (at most 40 frames per camera)."""
    out: list[VideoEvent] = []
    for ci in ctx.world.cameras_in(cells):
        if rng.random() >= p_see:
            continue
        cam = ctx.world.cameras[ci]
        level = float(np.clip(conf + rng.normal(0, 0.04), 0.05, 0.97))
        a = t_from + float(rng.uniform(0, 0.2)) * (t_to - t_from)
        frames, k = 0, 0
        while a < t_to and frames < 40:
            n = int(rng.integers(3, 12))
            period = float(rng.uniform(15, 40))
            ev = track(rng, cam.camera_id, f"{sid}-{cam.camera_id}-{k}", etype, a, t_to, level, period_s=period,
                       count=count, max_frames=min(n, 40 - frames))
            out += ev
            frames += len(ev)
            k += 1
            a += n * period + float(rng.uniform(120, 600))
    return out


def _calls(ctx: Ctx, rng: np.random.Generator, sid: str, cells: list[str], category: str, lam: float,
           t_from: float, t_to: float, strength: float) -> list[HotlineCall]:
    n = int(rng.poisson(lam))
    out = []
    for j in range(n):
        # citizens call after noticing: most within the first quarter of the visible period
        ts = min(t_to, t_from + float(rng.exponential(max(60.0, (t_to - t_from) / 4))))
        cell = cells[0] if (rng.random() < 0.7 or len(cells) == 1) else cells[int(rng.integers(1, len(cells)))]
        out.append(make_call(ctx.world, rng, f"call-{sid}-{j}", ts, cell, category, strength,
                             follow_up=j > 0 and rng.random() < 0.15))
    return sorted(out, key=lambda c: c.ts)


def _truth(ctx: Ctx, sid: str, stype: str, cell: str, start: float, end: float, cells: list[str],
           strength: float, sensors: np.ndarray, video: list[VideoEvent], calls: list[HotlineCall],
           operational: bool = True, **details) -> ScenarioTruth:
    w = ctx.world
    c = w.city.cells[cell]
    pl = w.place(cell)
    return ScenarioTruth(
        scenario_id=sid, type=stype, start=float(start), end=float(end), cells=list(dict.fromkeys(cells)),
        district=c.district, lat=c.lat, lon=c.lon, strength=float(strength),
        band=band(strength) if stype != "noise_only" else "none", operational=operational,
        sensors=[w.sensors[i].sensor_id for i in sensors],
        cameras=sorted({e.camera_id for e in video}),
        details={"category": CATEGORY[stype], "place": f"{w.district_name(cell)}{pl.street}（{pl.estate}）",
                 "calls": len(calls), "video_events": len(video), **details})


def _with_kind(w: World, cells: list[str], kind: str, limit: int, rng: np.random.Generator) -> list[str]:
    have = [c for c in cells if len(w.sensors_in([c], kind))]
    rng.shuffle(have)
    return have[:limit]


# ------------------------------------------------------------------ builders

def _waterlogging(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    w = ctx.world
    rain_dur = 1800 + 1800 * rng.random()
    rain_peak = 3 + 12 * s
    rain_env = Envelope(at, rain_dur / 2, 0, rain_dur / 2)
    onset = at + 600
    env = Envelope(onset, 900 + 1200 * rng.random(), 1200 + 2400 * rng.random(), 1800 + 1800 * rng.random())
    peak_m = 0.05 + 0.55 * s
    extra = _with_kind(w, _ring(w, cell), "water_level", int(round(3 * s)), rng)
    cells = [cell] + extra
    wl_c = w.sensors_in([cell], "water_level")
    wl_n = w.sensors_in(extra, "water_level")
    effects = [Effect(wl_c, peak_m * rng.uniform(0.8, 1.2, len(wl_c)), env),
               Effect(wl_n, peak_m * rng.uniform(0.3, 0.6, len(wl_n)), env)]
    rain_cells = w.city.neighbours(cell, 3)
    rf = w.sensors_in(rain_cells, "rainfall")
    dist = np.array([_cells_dist(w.sensor_cell[i], cell) for i in rf], dtype=float)
    effects.append(Effect(rf, rain_peak * np.exp(-dist / 2.0), rain_env))
    # the same rain fills every drain of the area a little (as in the background, 3 mm per mm/5min,
    # 10 min later): the waterlogged cells are where it goes far beyond that
    wet = np.setdiff1d(w.sensors_in(rain_cells, "water_level"), np.concatenate([wl_c, wl_n]))
    wet_d = np.array([_cells_dist(w.sensor_cell[i], cell) for i in wet], dtype=float)
    lagged = Envelope(rain_env.start + 600, rain_env.rise, rain_env.hold, rain_env.fall)
    effects.append(Effect(wet, 0.003 * rain_peak * np.exp(-wet_d / 2.0), lagged))
    visible = (env.start + env.rise * 0.5, env.start + env.rise + env.hold + env.fall * 0.5)
    video = _camera_tracks(ctx, rng, sid, cells, "standing_water", 0.3 + 0.7 * s, 0.35 + 0.55 * s, *visible)
    calls = _calls(ctx, rng, sid, cells, "waterlogging", 0.5 + 12 * s ** 1.5, visible[0], visible[1], s)
    sensors = np.concatenate([wl_c, wl_n, rf])
    truth = _truth(ctx, sid, "waterlogging", cell, at, env.end, cells, s, sensors, video, calls,
                   onset=onset, water_rise_m=round(peak_m, 3), rain_peak_mm_5min=round(rain_peak, 2),
                   rain_cells=rain_cells, side_effect_sensors=[w.sensors[i].sensor_id for i in wet])
    return Scenario(truth, effects, video, calls)


def _fire(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    w = ctx.world
    env = Envelope(at, 120 + 300 * rng.random(), 900 + 2700 * rng.random(), 600 + 900 * rng.random())
    peak = 0.3 + 9.7 * s ** 2
    sm = w.sensors_in([cell], "smoke")
    effects = [Effect(sm, peak * rng.uniform(0.7, 1.3, len(sm)), env)]
    visible = (at + env.rise * 0.5, env.end - env.fall * 0.5)
    video = _camera_tracks(ctx, rng, sid, [cell], "smoke_fire", 0.4 + 0.6 * s, 0.35 + 0.55 * s, *visible)
    video += _camera_tracks(ctx, rng, sid + "n", _ring(w, cell), "smoke_fire", 0.2 + 0.4 * s,
                            0.3 + 0.45 * s, *visible)
    calls = _calls(ctx, rng, sid, [cell] + _ring(w, cell), "fire", 1 + 12 * s, visible[0], visible[1], s)
    truth = _truth(ctx, sid, "building_fire", cell, at, env.end, [cell], s, sm, video, calls,
                   smoke_peak_pct_m=round(peak, 3))
    return Scenario(truth, effects, video, calls)


def _air(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    w = ctx.world
    c0 = w.city.cells[cell]
    env = Envelope(at, 3600, 7200 + 7200 * rng.random(), 3600 + 1800 * rng.random())
    radius_km = 3 + 5 * s
    delta = 15 + 135 * s
    pm = np.array([i for i in np.flatnonzero(w.kind_idx == KIND_INDEX["pm25"])
                   if w.city.cells[w.sensor_cell[i]].district == c0.district], dtype=np.int64)
    cos = math.cos(math.radians(c0.lat))
    d = np.array([math.hypot((w.sensors[i].lat - c0.lat) * 111.32, (w.sensors[i].lon - c0.lon) * 111.32 * cos)
                  for i in pm])
    reach = d <= 2 * radius_km
    if reach.sum() < 3 and len(pm):  # always take the few nearest: an episode is never one sensor
        reach = d <= np.sort(d)[min(2, len(d) - 1)]
    idx, d = pm[reach], d[reach]
    effects = [Effect(idx, delta * np.exp(-(d / radius_km) ** 2) * rng.uniform(0.85, 1.15, len(idx)), env)]
    cells = sorted({w.sensor_cell[i] for i in idx} | {cell}, key=lambda x: (x != cell, x))
    calls = _calls(ctx, rng, sid, cells, "air_pollution", 0.3 + 6 * s, at + 1800, env.end - env.fall, s)
    truth = _truth(ctx, sid, "air_pollution", cell, at, env.end, cells, s, idx, [], calls,
                   pm25_rise_ug_m3=round(delta, 1), radius_km=round(radius_km, 2))
    return Scenario(truth, effects, [], calls)


def _traffic(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    w = ctx.world
    env = Envelope(at, 120 + 180 * rng.random(), 1200 + 2400 * rng.random(), 600 + 600 * rng.random())
    drop = 0.25 + 0.65 * s
    extra = _with_kind(w, _ring(w, cell), "traffic_speed", 2, rng)
    ts_c = w.sensors_in([cell], "traffic_speed")
    ts_n = w.sensors_in(extra, "traffic_speed")
    effects = [Effect(ts_c, np.full(len(ts_c), drop), env, "mul"),
               Effect(ts_n, np.full(len(ts_n), drop * 0.5), env, "mul")]
    visible = (at + env.rise * 0.3, env.end - env.fall)
    video = _camera_tracks(ctx, rng, sid, [cell], "traffic_accident", 0.4 + 0.6 * s, 0.35 + 0.55 * s, *visible)
    calls = _calls(ctx, rng, sid, [cell] + extra, "traffic", 0.5 + 10 * s, visible[0], visible[1], s)
    truth = _truth(ctx, sid, "traffic_jam", cell, at, env.end, [cell] + extra, s,
                   np.concatenate([ts_c, ts_n]), video, calls, speed_drop_pct=round(100 * drop, 1))
    return Scenario(truth, effects, video, calls)


def _crowd(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    w = ctx.world
    env = Envelope(at, 300 + 300 * rng.random(), 1200 + 1200 * rng.random(), 600 + 600 * rng.random())
    factor = 0.3 + 2.7 * s
    pf = w.sensors_in([cell], "passenger_flow")
    effects = [Effect(pf, factor * ctx.base[pf], env)]
    count = int(50 + 550 * s)
    visible = (at + env.rise * 0.3, env.end - env.fall * 0.5)
    video = _camera_tracks(ctx, rng, sid, [cell], "crowd", 0.5 + 0.5 * s, 0.4 + 0.5 * s, *visible, count=count)
    calls = _calls(ctx, rng, sid, [cell], "crowd", 0.3 + 5 * s, visible[0], visible[1], s)
    truth = _truth(ctx, sid, "crowd_surge", cell, at, env.end, [cell], s, pf, video, calls,
                   extra_flow_factor=round(factor, 2), crowd_count=count,
                   station=w.station_name.get(cell, ""))
    return Scenario(truth, effects, video, calls)


def _pipe(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    w = ctx.world
    env = Envelope(at, 60 + 120 * rng.random(), 1800 + 3600 * rng.random(), 300 + 600 * rng.random())
    drop = 0.2 + 1.8 * s
    ring = _ring(w, cell)
    wp_c = w.sensors_in([cell], "water_pressure")
    wp_n = w.sensors_in(ring, "water_pressure")
    wl_c = w.sensors_in([cell], "water_level")
    rise = 0.02 + 0.15 * s
    effects = [Effect(wp_c, np.full(len(wp_c), -drop), env), Effect(wp_n, np.full(len(wp_n), -0.4 * drop), env),
               Effect(wl_c, np.full(len(wl_c), rise), env)]
    visible = (at + env.rise, env.end - env.fall)
    video = _camera_tracks(ctx, rng, sid, [cell], "standing_water", 0.3 + 0.6 * s, 0.35 + 0.5 * s, *visible)
    calls = _calls(ctx, rng, sid, [cell] + ring, "pipe_burst", 1 + 10 * s, visible[0], visible[1], s)
    cells = [cell] + sorted({w.sensor_cell[i] for i in wp_n})
    truth = _truth(ctx, sid, "pipe_burst", cell, at, env.end, cells, s, np.concatenate([wp_c, wp_n, wl_c]),
                   video, calls, pressure_drop_bar=round(drop, 3), water_rise_m=round(rise, 3))
    return Scenario(truth, effects, video, calls)


def _fault(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float, mode: str | None = None,
           sensor: int | None = None) -> Scenario:
    w = ctx.world
    if sensor is None:
        here = w.sensors_in([cell])
        if not len(here):
            raise ValueError(f"no sensor in cell {cell} to fail")
        sensor = int(here[int(rng.integers(len(here)))])
    kind = KINDS[int(w.kind_idx[sensor])]
    mode = mode or FAULT_MODES[int(rng.integers(len(FAULT_MODES)))]
    dur = 3600 + 5 * 3600 * rng.random()
    env = Envelope(at, 0.0, dur, 0.0)
    R = FAULT_RANGE[kind]
    idx = np.array([sensor], dtype=np.int64)
    end = env.end
    if mode == "stuck":
        value = max(0.0, float(ctx.base[sensor]) + 0.3 * s * R)
        eff = Effect(idx, np.array([value]), env, "set")
        mag = {"stuck_value": round(float(value), 3)}
    elif mode == "spike":
        slots = max(1, int(dur // ctx.interval))
        n = min(slots, 1 + int(rng.integers(3)))
        ticks = sorted(at + ctx.interval * int(k) for k in rng.choice(slots, n, replace=False))
        eff = Effect(idx, np.array([(0.15 + 0.85 * s) * R]), env, "spike", tuple(ticks))
        end = ticks[-1] + ctx.interval
        mag = {"spike": round((0.15 + 0.85 * s) * R, 3), "spikes": n}
    else:
        eff = Effect(idx, np.array([(0.05 + 0.45 * s) * R]), env, "drift")
        mag = {"drift": round((0.05 + 0.45 * s) * R, 3)}
    truth = _truth(ctx, sid, "sensor_fault", w.sensor_cell[sensor], at, end, [w.sensor_cell[sensor]], s, idx,
                   [], [], operational=False, mode=mode, kind=kind, **mag)
    return Scenario(truth, [eff])


def _noise(ctx: Ctx, rng, sid: str, cell: str, at: float, s: float) -> Scenario:
    end = at + 3600 + 7200 * rng.random()
    cells = [cell] + _ring(ctx.world, cell)
    return Scenario(_truth(ctx, sid, "noise_only", cell, at, end, cells, 0.0, np.zeros(0, dtype=np.int64), [], [],
                           operational=False))


BUILDERS = {"waterlogging": _waterlogging, "building_fire": _fire, "air_pollution": _air,
            "traffic_jam": _traffic, "crowd_surge": _crowd, "pipe_burst": _pipe, "sensor_fault": _fault,
            "noise_only": _noise}
ALIASES = {"fire": "building_fire", "traffic": "traffic_jam", "crowd": "crowd_surge", "pollution": "air_pollution",
           "fault": "sensor_fault", "noise": "noise_only", "pipe": "pipe_burst"}


def build(ctx: Ctx, kind: str, cell: str, at: float, strength: float, sid: str, **kw) -> Scenario:
    """One scenario of type `kind` at `cell` starting at `at` (epoch s) with `strength` in [0, 1]."""
    kind = ALIASES.get(kind, kind)
    if kind not in BUILDERS:
        raise ValueError(f"unknown scenario type {kind!r}; one of {', '.join(TYPES)}")
    if cell not in ctx.world.city.cells:
        raise ValueError(f"unknown cell {cell!r}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength {strength} is outside [0, 1]")
    rng = np.random.default_rng([ctx.seed, 9, int(at), sum(map(ord, sid))])
    return BUILDERS[kind](ctx, rng, sid, cell, float(at), float(strength), **kw)


# ------------------------------------------------------------------ scheduling

def _footprint(sc: Scenario) -> np.ndarray:
    cells = sc.truth.cells + list(sc.truth.details.get("rain_cells", []))
    return np.array([parse_cell_id(c) for c in cells])


def _clash(a: Scenario, b: Scenario, margin_s: float, min_cells: int) -> bool:
    if a.start > b.end + margin_s or b.start > a.end + margin_s:
        return False
    fa, fb = _footprint(a), _footprint(b)
    d = np.abs(fa[:, None, :] - fb[None, :, :]).max(axis=2)
    return bool(d.min() < min_cells)


def _in_service(kind: str, at: float, rng: np.random.Generator, offset_s: float = 8 * 3600) -> float:
    """Crowd surges happen while the metro runs (07:00-21:00 local): move a night start to the morning."""
    if kind != "crowd_surge":
        return at
    h = ((at + offset_s) % 86_400) / 3600.0
    if 7.0 <= h < 21.0:
        return at
    return at + ((7.0 - h) % 24.0) * 3600.0 + float(rng.uniform(0, 3 * 3600))


def plan(ctx: Ctx, n: int, seed: int, start: float, duration: float, types: list[str] | None = None,
         margin_s: float = 1800.0, min_cells: int = 4, first_id: int = 0,
         existing: list[Scenario] | None = None) -> list[Scenario]:
    """N scenarios over [start, start + duration), no two close in place (< min_cells rings) while close
    in time (< margin_s apart). Types are balanced (round-robin, shuffled); strengths stratified-uniform
    per type; start times stratified over the period (crowd surges moved into metro hours); places
    weighted by urbanity among cells that have the type's primary sensor. A scenario that cannot be
    placed after 40 tries is left out (the returned list is then shorter than N). `existing`
    scenarios (injected or planned before) are kept apart from too."""
    types = [ALIASES.get(t, t) for t in (types or list(TYPES))]
    for t in types:
        if t not in BUILDERS:
            raise ValueError(f"unknown scenario type {t!r}; one of {', '.join(TYPES)}")
    rng = np.random.default_rng([seed, 10])
    w = ctx.world
    kinds = [types[i % len(types)] for i in range(n)]
    rng.shuffle(kinds)
    strengths: dict[str, list[float]] = {}
    # sorted: set order follows PYTHONHASHSEED, and the draws below must not (repeatable seeds)
    for t in sorted(set(kinds)):
        k = kinds.count(t)
        strengths[t] = list((rng.permutation(k) + rng.random(k)) / k)
    candidates: dict[str, tuple[list[str], np.ndarray]] = {}
    for t in sorted(set(kinds)):
        pk = PRIMARY_KIND[t]
        cells = w.cells_with(pk) if pk else (sorted(w.by_cell) if t == "sensor_fault" else list(w.city.cells))
        if t == "crowd_surge":
            cells = [c for c in cells if c in set(w.stations)] or list(w.stations)
        cells = cells or list(w.city.cells)  # a small fleet may lack the kind: calls and cameras remain
        p = np.array([w.urbanity[c] for c in cells])
        candidates[t] = (cells, p / p.sum())
    out: list[Scenario] = []
    slot = duration / max(1, n)
    for i, t in enumerate(kinds):
        s = strengths[t].pop()
        cells, p = candidates[t]
        for attempt in range(40):
            at = start + slot * (i + rng.random()) if attempt < 20 else start + duration * rng.random()
            at = _in_service(t, at, rng, ctx.offset_s)
            cell = cells[int(rng.choice(len(cells), p=p))]
            sc = build(ctx, t, cell, at, s, f"sc-{seed}-{first_id + i:04d}-{t}")
            if not any(_clash(sc, o, margin_s, min_cells) for o in (*(existing or ()), *out)):
                out.append(sc)
                break
    return sorted(out, key=lambda sc: sc.start)
