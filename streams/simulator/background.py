"""The city's normal life as sensor values: daily and weekly cycles, weather, noise and dropouts.

Every value is a pure function of (seed, reading tick, sensor), drawn with a counter-based generator
per tick, so `step(t0, t1)` gives the same readings however the time range is chunked. One call
computes all sensors at once (numpy). Local time is UTC+8 (Guangzhou) unless told otherwise.

Magnitudes (units of `streams.schemas.SENSOR_UNITS`), per-sensor parameters drawn once per seed:

- water_level: 0.02-0.12 m above the dry level; Pearl River tide 0-3 cm (12.42 h); +3 mm per
  mm/5min of rain 10 min later; noise 5 mm.
- rainfall: 0 mm/5min outside storms; ~0.7 storms/day, 30-180 min, 0.3-6 mm/5min peak, 5-25 km
  radius; 0.1 mm resolution.
- pm25: 15-45 µg/m³ (lower in the suburbs); +30 % at rush hours, +15 % at night, city-wide
  multi-day swings up to ±30 %; rain washes it out; noise 8 %.
- traffic_speed: free flow 35-65 km/h; weekday rush hours -30..-55 % (weekends 40 % of that);
  rain slows it; noise 2.5 km/h.
- manhole_tilt: 0.3-2.0 °; noise 0.15 °.
- smoke: 0.005-0.03 %/m, +0.01 %/m at cooking hours; rare one-reading nuisance puffs of
  0.2-1.5 %/m (1e-5 per reading); noise 0.006 %/m.
- water_pressure: 2.8-4.2 bar, -0.15..-0.35 bar at the demand peaks; noise 0.03 bar.
- passenger_flow: station peak 150-900 people/5min, rush-hour peaks on weekdays, a daytime bump
  at weekends, 0 while the metro is closed (23:30-06:00); Poisson counts.

Faults in the background: a reading is missing (value None) with probability `dropout` (0.1 %).
Labelled faults (stuck / spike / drift) come from `scenarios.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np

from streams.simulator.world import KIND_INDEX, World

LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86_400.0
STORMS_PER_DAY = 0.7
TIDE_S = 44_712.0  # M2 semi-diurnal tide, 12.42 h
NUISANCE_SMOKE = 1e-5  # per smoke reading


@dataclass(frozen=True)
class Storm:
    start: float
    duration: float
    peak: float  # mm/5min at the centre
    lat: float
    lon: float
    radius_km: float


def local_hour(t: float | np.ndarray, offset_s: float = LOCAL_OFFSET_S):
    return ((np.asarray(t) + offset_s) % DAY_S) / 3600.0


def is_weekday(t: float, offset_s: float = LOCAL_OFFSET_S) -> bool:
    # 1970-01-01 was a Thursday (weekday 3, Monday = 0)
    return (int((t + offset_s) // DAY_S) + 3) % 7 < 5


def rush(h):
    """Morning and evening rush-hour bumps, 1 at the peak."""
    return np.exp(-((h - 8.2) / 1.1) ** 2) + np.exp(-((h - 18.3) / 1.4) ** 2)


def daytime(h):
    """A broad bump over the waking day (peak early afternoon)."""
    return np.exp(-((h - 14.0) / 4.5) ** 2)


@dataclass
class Background:
    world: World
    seed: int
    dropout: float = 0.001
    offset_s: float = LOCAL_OFFSET_S
    base: np.ndarray = field(init=False, repr=False)
    amp: np.ndarray = field(init=False, repr=False)
    sd: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        w = self.world
        n = len(w.sensors)
        rng = np.random.default_rng([self.seed, 2])
        self.lat = np.array([s.lat for s in w.sensors])
        self.lon = np.array([s.lon for s in w.sensors])
        urb = np.array([w.urbanity[c] for c in w.sensor_cell])
        self.mask = {k: np.flatnonzero(w.kind_idx == i) for k, i in KIND_INDEX.items()}
        self.base = np.zeros(n)
        self.amp = np.zeros(n)
        self.sd = np.zeros(n)
        self.offset = rng.uniform(0, 20, n)  # seconds before the gateway's tick each sensor samples

        def put(kind: str, base, amp, sd) -> None:
            m = self.mask[kind]
            for arr, v in ((self.base, base), (self.amp, amp), (self.sd, sd)):
                arr[m] = v(len(m)) if callable(v) else v

        put("water_level", lambda k: rng.uniform(0.02, 0.12, k), 0.003, 0.005)
        put("rainfall", 0.0, 0.0, 0.05)
        m = self.mask["pm25"]
        put("pm25", lambda k: rng.uniform(15, 30, k) + 15 * np.minimum(1, urb[m] / 12), 0.3, 0.08)
        put("traffic_speed", lambda k: rng.uniform(35, 65, k), lambda k: rng.uniform(0.3, 0.55, k), 2.5)
        put("manhole_tilt", lambda k: rng.uniform(0.3, 2.0, k), 0.0, 0.15)
        put("smoke", lambda k: rng.uniform(0.005, 0.03, k), 0.01, 0.006)
        put("water_pressure", lambda k: rng.uniform(2.8, 4.2, k), lambda k: rng.uniform(0.15, 0.35, k), 0.03)
        put("passenger_flow", lambda k: rng.uniform(150, 900, k), 0.0, 0.0)
        # the Pearl River's semi-diurnal tide backs up drains: 0-3 cm, phase lag up to an hour
        self.tide_amp = np.zeros(n)
        self.tide_amp[self.mask["water_level"]] = rng.uniform(0.0, 0.03, len(self.mask["water_level"]))
        self.tide_lag = rng.uniform(0, 3600, n)
        # regional air quality drifts over days (synoptic weather): three slow waves, +-30 % at most
        self.pm_waves = [(p * DAY_S, a, float(rng.uniform(0, 2 * math.pi)))
                         for p, a in ((2.3, 0.12), (3.7, 0.10), (6.1, 0.08))]
        self._bounds = w.city.bounds
        self._storms: dict[int, tuple[Storm, ...]] = {}

    # -- weather -------------------------------------------------------------------------------
    def storms(self, day: int) -> tuple[Storm, ...]:
        """Background storms starting on sim day `day` (days since the epoch)."""
        if day in self._storms:
            return self._storms[day]
        rng = np.random.default_rng([self.seed, 3, day])
        minx, miny, maxx, maxy = self._bounds
        out = []
        for _ in range(rng.poisson(STORMS_PER_DAY)):
            out.append(Storm(start=day * DAY_S + float(rng.uniform(0, DAY_S)),
                             duration=float(rng.uniform(1800, 10800)), peak=float(rng.uniform(0.3, 6.0)),
                             lat=float(rng.uniform(miny, maxy)), lon=float(rng.uniform(minx, maxx)),
                             radius_km=float(rng.uniform(5, 25))))
        if len(self._storms) > 64:
            self._storms.clear()
        self._storms[day] = tuple(out)
        return self._storms[day]

    def rain(self, t: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Background rain rate (mm/5min) at time t at the given points."""
        out = np.zeros(len(lat))
        day = int(t // DAY_S)
        for d in (day - 1, day):
            for s in self.storms(d):
                x = (t - s.start) / s.duration
                if not 0.0 < x < 1.0:
                    continue
                dy = (lat - s.lat) * 111.32
                dx = (lon - s.lon) * 111.32 * math.cos(math.radians(s.lat))
                out += s.peak * math.sin(math.pi * x) * np.exp(-(dx * dx + dy * dy) / s.radius_km ** 2)
        return out

    # -- values --------------------------------------------------------------------------------
    def values(self, t: float, tick: int) -> np.ndarray:
        """Every sensor's background value for the reading tick at time t (NaN = missing)."""
        rng = np.random.default_rng([self.seed, 4, tick])
        n = len(self.base)
        z = rng.standard_normal(n)
        v = np.zeros(n)
        h = float(local_hour(t, self.offset_s))
        wk = 1.0 if is_weekday(t, self.offset_s) else 0.4
        r_now = self.rain(t, self.lat, self.lon)
        r_lag = self.rain(t - 600.0, self.lat, self.lon)
        B, A, S, M = self.base, self.amp, self.sd, self.mask

        m = M["water_level"]
        tide = self.tide_amp[m] * np.sin(2 * math.pi * (t - self.tide_lag[m]) / TIDE_S)
        v[m] = B[m] + tide + A[m] * r_lag[m] + S[m] * z[m]
        m = M["rainfall"]
        v[m] = np.round(np.maximum(0.0, r_now[m] + S[m] * z[m] * (r_now[m] > 0.05)), 1)
        m = M["pm25"]
        regional = 1 + sum(a * math.sin(2 * math.pi * t / p + ph) for p, a, ph in self.pm_waves)
        level = regional * B[m] * (1 + A[m] * rush(h) * (0.5 + 0.5 * wk) + 0.15 * math.cos(2 * math.pi * (h - 2) / 24))
        level *= 1 - np.minimum(0.5, 0.06 * r_now[m])
        v[m] = np.maximum(1.0, level * (1 + S[m] * z[m]))
        m = M["traffic_speed"]
        v[m] = np.maximum(2.0, B[m] * (1 - A[m] * rush(h) * wk) * (1 - np.minimum(0.3, 0.04 * r_now[m]))
                          + S[m] * z[m])
        m = M["manhole_tilt"]
        v[m] = np.abs(B[m] + S[m] * z[m])
        m = M["smoke"]
        cook = math.exp(-((h - 12) / 1.0) ** 2) + math.exp(-((h - 18.5) / 1.2) ** 2)
        v[m] = np.maximum(0.0, B[m] + A[m] * cook + S[m] * z[m])
        # nuisance smoke (cooking, steam, a cigarette under the detector): one reading of 0.2-1.5 %/m
        nuisance = m[rng.random(len(m)) < NUISANCE_SMOKE]
        v[nuisance] += rng.uniform(0.2, 1.5, len(nuisance))
        m = M["water_pressure"]
        demand = math.exp(-((h - 7.5) / 1.5) ** 2) + math.exp(-((h - 19.5) / 2.0) ** 2)
        v[m] = B[m] - A[m] * demand + S[m] * z[m]
        m = M["passenger_flow"]
        if 6.0 <= h < 24.0 - 0.5:
            shape = 0.15 + 0.85 * rush(h) if wk == 1.0 else 0.1 + 0.6 * daytime(h)
            lam = B[m] * np.clip(shape, 0.05, 1.2)
            v[m] = rng.poisson(lam).astype(float)
        else:
            v[m] = 0.0
        v[rng.random(n) < self.dropout] = np.nan
        return v
