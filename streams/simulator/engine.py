"""The simulator: the world, its background and the injected scenarios, stepped through time.

`Simulator.step(t0, t1)` returns everything the city emits in [t0, t1): one `SensorBatch` per cell per
reading tick (ticks at multiples of `interval_s`), video events, hotline calls and the truth of the
scenarios that start in the range. All of it is a pure function of the seed and the scenarios, so the
same time range gives the same messages however it is chunked.

Default rates (3,000 sensors, 300 cameras, 60 s interval, Guangzhou; `Simulator.rates()` measures
them): 50 readings/s in 29 cell batches/s on city.sensor.readings, ~0.06 video events/s, ~0.07
calls/s (per simulated second; multiply by the speedup for wall rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import TypeAdapter

from streams.city import City
from streams.schemas import CameraInfo, HotlineCall, ScenarioTruth, SensorBatch, SensorInfo, VideoEvent
from streams.simulator import scenarios as sc_mod
from streams.simulator.background import Background
from streams.simulator.calls import background_calls
from streams.simulator.video import background_video
from streams.simulator.world import World, build_world

#: physical floor / ceiling per kind after scenario effects (index = KIND_INDEX)
_LO = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_HI = np.array([5.0, 60.0, 1000.0, 130.0, 90.0, 30.0, 10.0, 10_000.0])
_ROUND = {"water_level": 3, "rainfall": 1, "pm25": 1, "traffic_speed": 1, "manhole_tilt": 2, "smoke": 3,
          "water_pressure": 3, "passenger_flow": 0}


_BATCHES = TypeAdapter(list[SensorBatch])


@dataclass
class Emissions:
    batches: list[SensorBatch] = field(default_factory=list)
    video: list[VideoEvent] = field(default_factory=list)
    calls: list[HotlineCall] = field(default_factory=list)
    truth: list[ScenarioTruth] = field(default_factory=list)

    def count(self) -> int:
        return len(self.batches) + len(self.video) + len(self.calls) + len(self.truth)


class Simulator:
    """A deterministic simulated city. Rates: `interval_s` between readings of a sensor,
    `calls_per_hour` routine hotline calls (daily mean), `video_per_camera_hour` background events."""

    def __init__(self, city: City, seed: int = 7, n_sensors: int = 3000, n_cameras: int = 300,
                 scenarios: list[sc_mod.Scenario] | None = None, start: float | None = None,
                 interval_s: float = 60.0, calls_per_hour: float = 240.0, video_per_camera_hour: float = 0.5,
                 dropout: float = 0.001, faults_per_sensor_day: float = 0.001, utc_offset_h: float = 8.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.city = city
        self.seed = seed
        self.interval_s = float(interval_s)
        self.calls_per_hour = float(calls_per_hour)
        self.video_per_camera_hour = float(video_per_camera_hour)
        self.start = start
        self.world: World = build_world(city, seed, n_sensors, n_cameras)
        self.offset_s = utc_offset_h * 3600.0  # local time drives every daily cycle
        self.background = Background(self.world, seed, dropout=dropout, offset_s=self.offset_s)
        self.ctx = sc_mod.Ctx(self.world, self.background.base, self.interval_s, seed, self.offset_s)
        self.scenarios: list[sc_mod.Scenario] = list(scenarios or [])
        self._ids = {s.sensor_id: i for i, s in enumerate(self.world.sensors)}
        decimals = np.array([_ROUND[s.kind.value] for s in self.world.sensors])
        self._round_groups = [(int(d), np.flatnonzero(decimals == d)) for d in np.unique(decimals)]
        self._sensor_ids = [s.sensor_id for s in self.world.sensors]
        cells = sorted(self.world.by_cell)
        self._cells = cells
        self._cell_idx = [self.world.by_cell[c].tolist() for c in cells]
        self._gateways = [f"gw-{c}" for c in cells]
        self._sched_count = 0
        self.faults_per_sensor_day = float(faults_per_sensor_day)
        self._bg_faults: dict[int, list[sc_mod.Scenario]] = {}

    # -- registry -------------------------------------------------------------------------------
    def registry(self) -> tuple[list[SensorInfo], list[CameraInfo]]:
        return list(self.world.sensors), list(self.world.cameras)

    # -- scenarios ------------------------------------------------------------------------------
    def inject(self, kind: str, cell: str, at: float, strength: float, **kw) -> ScenarioTruth:
        """Add one labelled scenario (see `scenarios.TYPES`) at `cell` from time `at`; return its truth.

        `sensor_fault` also takes `mode` ("stuck" / "spike" / "drift") and `sensor` (a sensor id)."""
        if "sensor" in kw and isinstance(kw["sensor"], str):
            if kw["sensor"] not in self._ids:
                raise ValueError(f"unknown sensor {kw['sensor']!r}")
            kw["sensor"] = self._ids[kw["sensor"]]
        sid = f"inj-{self.seed}-{len(self.scenarios):04d}-{sc_mod.ALIASES.get(kind, kind)}"
        sc = sc_mod.build(self.ctx, kind, cell, at, strength, sid, **kw)
        self.scenarios.append(sc)
        return sc.truth

    def schedule(self, n: int, seed: int, duration: float, start: float | None = None,
                 types: list[str] | None = None) -> list[ScenarioTruth]:
        """Place N scenarios over [start, start + duration), apart in place and time from each other and
        from the scenarios already there; return their truth."""
        start = self.start if start is None else start
        if start is None:
            raise ValueError("schedule needs a start time (or Simulator(start=...))")
        new = sc_mod.plan(self.ctx, n, seed, start, duration, types, first_id=self._sched_count,
                          existing=self.scenarios)
        self._sched_count += n
        self.scenarios += new
        return [s.truth for s in new]

    def background_faults(self, day: int) -> list[sc_mod.Scenario]:
        """The labelled sensor faults that start on sim day `day` (epoch days): the fleet's wear and tear,
        `faults_per_sensor_day` per sensor (Poisson), uniformly over sensors, modes and strengths."""
        if day not in self._bg_faults:
            rng = np.random.default_rng([self.seed, 8, day])
            out = []
            n_s = len(self.world.sensors)
            for j in range(int(rng.poisson(self.faults_per_sensor_day * n_s))):
                i = int(rng.integers(n_s))
                at = day * 86_400.0 + float(rng.uniform(0, 86_400.0))
                sc = sc_mod.build(self.ctx, "sensor_fault", self.world.sensor_cell[i], at, float(rng.random()),
                                  f"bgf-{self.seed}-{day}-{j}", sensor=i,
                                  mode=sc_mod.FAULT_MODES[int(rng.integers(len(sc_mod.FAULT_MODES)))])
                sc.truth.details["background"] = True
                out.append(sc)
            if len(self._bg_faults) > 16:
                self._bg_faults.clear()
            self._bg_faults[day] = out
        return self._bg_faults[day]

    def active(self, t0: float, t1: float) -> list[sc_mod.Scenario]:
        """Scenarios (injected, scheduled, background faults) that may emit in [t0, t1)."""
        days = range(int(t0 // 86_400) - 1, int(t1 // 86_400) + 1)
        pool = self.scenarios + [f for d in days for f in self.background_faults(d)]
        return [sc for sc in pool if sc.start - 3600 < t1 and sc.end + 3600 >= t0]

    def truths(self, t0: float, t1: float) -> list[ScenarioTruth]:
        """The truth of every scenario starting in [t0, t1), background faults included, by start time."""
        days = range(int(t0 // 86_400), int(math.ceil(t1 / 86_400)))
        pool = self.scenarios + [f for d in days for f in self.background_faults(d)]
        return [sc.truth for sc in sorted(pool, key=lambda sc: sc.start) if t0 <= sc.start < t1]

    # -- time -----------------------------------------------------------------------------------
    def ticks(self, t0: float, t1: float) -> range:
        return range(math.ceil(t0 / self.interval_s), math.ceil(t1 / self.interval_s))

    def values(self, tick: int) -> np.ndarray:
        """Every sensor's value at a reading tick: background plus active scenarios (NaN = missing)."""
        t = tick * self.interval_s
        v = self.background.values(t, tick)
        for sc in self.active(t, t + self.interval_s):
            sc.apply(t, v, self.interval_s)
        k = self.world.kind_idx
        return np.clip(v, _LO[k], _HI[k])

    def sample(self, tick: int) -> tuple[np.ndarray, np.ndarray]:
        """What every sensor reports at a reading tick, as arrays: (timestamps, values rounded to the
        sensor's resolution, NaN = missing); `sensor_ids` gives their order. `step` sends exactly these."""
        v = self.values(tick)
        for d, g in self._round_groups:
            v[g] = np.round(v[g], d)
        # each sensor samples a little before the gateway's tick, so no reading is later than the tick
        return np.round(tick * self.interval_s - self.background.offset, 3), v

    @property
    def sensor_ids(self) -> list[str]:
        return list(self._sensor_ids)

    def _bg_video(self, hour: int) -> list[VideoEvent]:
        return background_video(self.world, self.seed, hour, self.video_per_camera_hour, self.offset_s)

    def _bg_calls(self, hour: int) -> list[HotlineCall]:
        return background_calls(self.world, self.seed, hour, self.calls_per_hour, self.offset_s)

    def step(self, t0: float, t1: float) -> Emissions:
        """Everything emitted with event time in [t0, t1)."""
        out = Emissions()
        ids = self._sensor_ids
        for tick in self.ticks(t0, t1):
            tsa, v = self.sample(tick)
            vals = [None if x != x else x for x in v.tolist()]  # NaN -> None (missing value)
            ts = tsa.tolist()
            # one validating call per tick (pydantic-core) is the fastest way to build ~2k batches
            out.batches += _BATCHES.validate_python([
                {"cell": cell, "gateway": gw, "readings": [
                    {"sensor_id": ids[i], "ts": ts[i], "value": vals[i]} for i in idx]}
                for cell, gw, idx in zip(self._cells, self._gateways, self._cell_idx)])
        for hour in range(int(t0 // 3600), int(math.ceil(t1 / 3600))):
            out.video += [e for e in self._bg_video(hour) if t0 <= e.ts < t1]
            out.calls += [c for c in self._bg_calls(hour) if t0 <= c.ts < t1]
        for sc in self.active(t0, t1):
            out.video += [e for e in sc.video if t0 <= e.ts < t1]
            out.calls += [c for c in sc.calls if t0 <= c.ts < t1]
        out.truth = self.truths(t0, t1)
        out.video.sort(key=lambda e: e.ts)
        out.calls.sort(key=lambda c: c.ts)
        return out

    # -- rates ----------------------------------------------------------------------------------
    def rates(self, day_start: float | None = None) -> dict[str, float]:
        """Mean messages per simulated second per topic, background only (scenarios add a little):
        readings from the fleet, video and calls counted over one simulated day of background."""
        t0 = math.floor((day_start if day_start is not None else (self.start or 0.0)) / 3600) * 3600
        hours = range(int(t0 // 3600), int(t0 // 3600) + 24)
        video = sum(len(self._bg_video(h)) for h in hours)
        calls = sum(len(self._bg_calls(h)) for h in hours)
        return {
            "city.sensor.readings": len(self._cells) / self.interval_s,
            "readings (inside batches)": len(self.world.sensors) / self.interval_s,
            "city.video.events": video / 86_400.0,
            "city.hotline.calls": calls / 86_400.0,
        }
