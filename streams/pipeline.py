"""The worker's processing, free of Kafka: validate → detect → fuse, plus live per-district metrics.

`Pipeline` holds one worker's state: the registries, the detector stages from `detectors/` and the
fuser. The Faust agents in `streams.app` only move bytes in and out of it, so the same pipeline runs
in-process in tests and in the evaluation harness.

Time: stages are driven by *stream time* (the newest event time seen), so a compressed replay of a
simulated week behaves like the real thing; when input pauses, stream time keeps moving with the
wall clock so silence (a camera gone quiet, an SLA) is still noticed.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from detectors import SensorStage
from detectors.fusion import Fuser
from detectors.hotline import HotlineStage
from detectors.video import VideoStage
from streams import catalog
from streams.city import City
from streams.schemas import (
    Alert, CameraInfo, DeadLetter, DistrictMetrics, HotlineCall, IncidentUpdate, SensorInfo,
)
from streams.validation import Outcome, Validator

log = logging.getLogger(__name__)

#: A sensor heard from within this many seconds (stream time) counts as online on the big screen.
ONLINE_S = 600.0
#: Hotline signals (merged calls) younger than this count towards the hot-spot figures.
HOTSPOT_S = 3600.0


@dataclass
class Raw:
    """One consumed Kafka record, as much of it as the pipeline needs."""

    value: bytes
    key: bytes | None = None
    partition: int = -1
    offset: int = -1


@dataclass
class Output:
    alerts: list[Alert] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    updates: list[IncidentUpdate] = field(default_factory=list)

    def extend(self, other: "Output") -> "Output":
        self.alerts += other.alerts
        self.dead += other.dead
        self.updates += other.updates
        return self


class StreamClock:
    """Newest event time seen, advancing with the wall clock while no event arrives."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._event = -math.inf
        self._at_wall = wall()

    def saw(self, ts: float) -> None:
        if ts > self._event and math.isfinite(ts):
            self._event = ts
            self._at_wall = self._wall()

    def now(self) -> float:
        if self._event == -math.inf:
            return self._wall()
        return self._event + (self._wall() - self._at_wall)


@dataclass
class _Window:
    readings: int = 0
    sensors: set[str] = field(default_factory=set)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    video: int = 0
    calls: int = 0
    dead: int = 0


class Pipeline:
    """Validate → detect → fuse for one worker. Not thread-safe: one event loop drives it."""

    def __init__(self, city: City, *, sensor_stage: SensorStage | None = None,
                 video_stage: VideoStage | None = None, hotline_stage: HotlineStage | None = None,
                 fuser: Fuser | None = None, max_future_s: float = 300.0,
                 wall: Callable[[], float] = time.time, worker_id: str = "") -> None:
        self.city = city
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.neighbours = lambda cid: city.neighbours(cid, 1)
        self.sensor_stage = sensor_stage or SensorStage(neighbours=self.neighbours)
        self.video_stage = video_stage or VideoStage(neighbours=self.neighbours)
        self.hotline_stage = hotline_stage
        self.fuser = fuser or Fuser(neighbours=self.neighbours)
        self.sensors: dict[str, SensorInfo] = {}
        self.cameras: dict[str, CameraInfo] = {}
        self.validator = Validator(
            catalog.SENSOR_READINGS.name, catalog.VIDEO_EVENTS.name, catalog.HOTLINE_CALLS.name,
            sensors=self.sensors, cameras=self.cameras, inside_city=city.contains, max_future_s=max_future_s,
        )
        self.clock = StreamClock(wall)
        self._wall = wall
        self._window: dict[str, _Window] = defaultdict(_Window)
        self._window_start = wall()
        self._last_heard: dict[str, float] = {}
        # newest size of each hotline signal: signals are re-sent as they grow, so they are not summed
        self._signals: dict[str, tuple[str, str, int, float]] = {}

    # -- registries -----------------------------------------------------------------------------
    def register_sensor(self, info: SensorInfo) -> None:
        self.sensors[info.sensor_id] = info
        self.sensor_stage.register(info)

    def register_camera(self, info: CameraInfo) -> None:
        self.cameras[info.camera_id] = info
        self.video_stage.register(info)

    # -- inputs ---------------------------------------------------------------------------------
    def _validate(self, raws: Iterable[Raw], check: Callable[..., Outcome]) -> tuple[list, Output]:
        """Run one validator over raw records: the good messages, and an Output holding the refusals."""
        out = Output()
        good: list = []
        wall = self._wall()
        for r in raws:
            res = check(r.value, r.key, r.partition, r.offset, now=wall)
            out.dead += res.refused
            good += res.good
        if out.dead:
            self._window["unknown"].dead += len(out.dead)
        return good, out

    def readings(self, raws: Iterable[Raw]) -> Output:
        good, out = self._validate(raws, self.validator.readings)
        for rd in good:
            self.clock.saw(rd.ts)
            info = self.sensors.get(rd.sensor_id)
            if info is not None:
                w = self._window[info.district]
                w.readings += 1
                w.sensors.add(rd.sensor_id)
                self._last_heard[rd.sensor_id] = rd.ts
                if rd.value is not None and math.isfinite(rd.value):
                    w.values[info.kind.value].append(rd.value)
        if good:
            out.alerts += self.sensor_stage.process(good, self.clock.now())
        return out

    def video(self, raws: Iterable[Raw]) -> Output:
        good, out = self._validate(raws, self.validator.video)
        for ev in good:
            self.clock.saw(ev.ts)
            cam = self.cameras.get(ev.camera_id)
            if cam is not None:
                self._window[cam.district].video += 1
        if good:
            out.alerts += self.video_stage.process(good, self.clock.now())
        return out

    def hotline(self, raws: Iterable[Raw]) -> Output:
        valid, out = self._validate(raws, self.validator.hotline)
        good: list[HotlineCall] = [self._place_call(c) for c in valid]
        for call in good:
            self.clock.saw(call.ts)
            self._window[call.district or "unknown"].calls += 1
        if good and self.hotline_stage is not None:
            out.alerts += self.hotline_stage.process(good, self.clock.now())
        self._note_signals(out.alerts)
        return out

    def _note_signals(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            if a.source == "hotline":
                self._signals[a.subject_id or a.alert_id] = (a.district, f"{a.category}\t{a.cell}",
                                                              len(a.message_ids) or 1, a.ts)

    def _place_call(self, call: HotlineCall) -> HotlineCall:
        """Fill in cell and district from coordinates (or district from cell) when the caller left them out."""
        cell = call.cell if call.cell in self.city.cells else None
        if cell is None and call.lat is not None and call.lon is not None:
            cell = self.city.cell_at(call.lat, call.lon)
        if cell is None:
            return call
        c = self.city.cells[cell]
        return call.model_copy(update={"cell": cell, "district": call.district or c.district,
                                       "lat": call.lat if call.lat is not None else c.lat,
                                       "lon": call.lon if call.lon is not None else c.lon})

    # -- fusion ---------------------------------------------------------------------------------
    def fuse(self, alerts: Iterable[Alert]) -> list[IncidentUpdate]:
        updates: list[IncidentUpdate] = []
        for a in alerts:
            self.clock.saw(a.ts)
            # maintenance alerts too: fusion decides whether an isolated sensor's reading is evidence
            # (`FusionConfig.isolated_evidence`, per category) and refuses the rest
            updates += self.fuser.add(a, self.clock.now())
        return updates

    def tick(self) -> Output:
        now = self.clock.now()
        out = Output()
        out.alerts += self.sensor_stage.tick(now)
        out.alerts += self.video_stage.tick(now)
        if self.hotline_stage is not None:
            ticked = self.hotline_stage.tick(now)
            self._note_signals(ticked)
            out.alerts += ticked
        out.updates += self.fuser.tick(now)
        return out

    # -- metrics --------------------------------------------------------------------------------
    def metrics(self) -> list[DistrictMetrics]:
        """Figures since the last call, one record per district (and 'unknown' for unplaced input)."""
        wall = self._wall()
        span = max(1e-3, wall - self._window_start)
        known: Counter = Counter(s.district for s in self.sensors.values())
        cutoff = self.clock.now() - ONLINE_S
        online: Counter = Counter(self.sensors[sid].district for sid, ts in self._last_heard.items()
                                  if ts >= cutoff and sid in self.sensors)
        recent = self.clock.now() - HOTSPOT_S
        self._signals = {k: v for k, v in self._signals.items() if v[3] >= recent}
        calls_by_place: dict[str, Counter] = defaultdict(Counter)
        for district, place, n, _ in self._signals.values():
            calls_by_place[district][place] += n
        out = []
        for district in sorted(set(self._window) | set(known)):
            w = self._window.get(district, _Window())
            kinds = {k: {"mean": sum(v) / len(v), "max": max(v), "n": float(len(v))} for k, v in w.values.items() if v}
            top = [{"category": place.split("\t")[0], "cell": place.split("\t")[1], "count": n}
                   for place, n in calls_by_place[district].most_common(5)]
            out.append(DistrictMetrics(
                district=district, ts=self.clock.now(), window_s=span, readings=w.readings,
                readings_per_s=w.readings / span, sensors_reporting=len(w.sensors), sensors_known=known[district],
                sensors_online=online[district], worker=self.worker_id,
                kinds=kinds, video_events=w.video, hotline_calls=w.calls, hotline_top=top, dead_letters=w.dead,
            ))
        self._window = defaultdict(_Window)
        self._window_start = wall
        return out
