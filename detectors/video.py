"""Video analytics events → alerts: camera registry, checks, de-duplication and camera health (pure logic).

A camera's analytics engine reports one event per frame in which it sees something. This stage
turns those into one alert per *object*: frames of the same track on one camera, and sightings of the
same type by cameras whose fields of view overlap, close in time, are one object. An object's alert is
re-emitted under the same alert_id as it grows (more cameras, frames doubling), and flushed once more
when the object goes quiet, so every accepted event id ends up in exactly one alert.

Camera health is judged against each camera's own usual rate (learned per hour bucket): a camera
silent for much longer than its usual gap between sightings, or flooding far above its usual rate,
raises a maintenance alert (category "camera_fault"), never an incident; a flooding camera's events
are held back meanwhile. Parked cars and everyday-size crowds are marked `details["supporting"]`:
fusion uses them next to other evidence but never opens an incident on them alone.
Events this stage does not use are counted and kept (bounded) in `rejected` with the reason.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streams.schemas import Alert, CameraInfo, VideoEvent

EARTH_R_M = 6_371_000.0

CATEGORY_OF_TYPE: dict[str, str] = {
    "standing_water": "waterlogging", "smoke_fire": "fire", "crowd": "crowd",
    "traffic_accident": "traffic", "illegal_parking": "traffic", "fallen_person": "public_safety",
}

DEFAULT_MIN_CONFIDENCE: dict[str, float] = {
    "standing_water": 0.5, "smoke_fire": 0.5, "crowd": 0.5,
    "traffic_accident": 0.5, "illegal_parking": 0.6, "fallen_person": 0.5,
}

BASE_SEVERITY: dict[str, int] = {
    "standing_water": 2, "smoke_fire": 3, "crowd": 2, "traffic_accident": 3, "illegal_parking": 1, "fallen_person": 3,
}

WORDS: dict[str, str] = {
    "standing_water": "standing water", "smoke_fire": "smoke or fire", "crowd": "a dense crowd",
    "traffic_accident": "a traffic accident", "illegal_parking": "illegal parking", "fallen_person": "a fallen person",
}


@dataclass(frozen=True)
class VideoConfig:
    min_confidence: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_CONFIDENCE))
    #: sightings of the same type by the same/overlapping cameras closer than this are one object
    dedup_window_s: float = 300.0
    #: events older than this (relative to `now`) are stale: a replayed backlog must not raise alerts
    max_age_s: float = 6 * 3600.0
    #: events needed before a camera's usual rate is trusted
    baseline_events: int = 10
    #: silent when quiet for longer than max(silent_min_s, silent_factor × usual gap between bursts);
    #: 12 gaps of a Poisson stream pass unseen with probability e^-12, even across a quiet night
    silent_factor: float = 12.0
    silent_min_s: float = 4 * 3600.0
    #: flooding when more than max(flood_min_events, flood_factor × usual) events arrive within flood_window_s
    flood_window_s: float = 60.0
    flood_factor: float = 10.0
    flood_min_events: int = 30
    #: the usual rate is learned from event counts per bucket of this length (exponentially weighted)
    rate_bucket_s: float = 3600.0
    rate_alpha: float = 0.05
    baseline_buckets: int = 24  # a camera's usual rate is trusted after this many buckets (a day)
    crowd_critical: int = 500  # a crowd this large is severe on its own
    #: a crowd smaller than this is everyday life (a metro exit at rush hour): evidence only next to other sources
    crowd_alert_count: int = 200
    #: ... unless it stays in view this long: an everyday crowd clears within a train interval or two,
    #: a crowd that does not move on is the beginning of a surge
    crowd_persist_s: float = 180.0
    #: types that support an incident but never open one alone (a parked car is not a jam)
    supporting_types: frozenset[str] = frozenset({"illegal_parking"})
    #: frames closer than this belong to one burst; silence is judged on bursts (tracks), not frames
    burst_gap_s: float = 30.0
    rejected_kept: int = 1000


@dataclass
class _Camera:
    info: CameraInfo
    last_ts: float = -math.inf
    first_ts: float = 0.0
    events: int = 0
    bucket_start: float = 0.0
    bucket_count: int = 0
    bucket_bursts: int = 0
    buckets: int = 0  # finished buckets learned from
    rate: float = 0.0  # usual events (frames) per second, exponentially weighted over buckets
    burst_rate: float = 0.0  # usual bursts (tracks) per second
    recent: deque = field(default_factory=deque)  # event times within the flood window
    silent: bool = False
    flooding: bool = False


@dataclass
class _Object:
    """One physical thing seen by one or more cameras over several frames."""

    alert_id: str
    type: str
    first_ts: float
    last_ts: float
    cameras: list[str]
    tracks: dict[str, str | None]  # camera -> track id
    event_ids: list[str]
    confidence: float
    count: int | None
    emitted_ids: int = 0  # how many event ids the last emitted alert carried
    emitted_cameras: int = 0


def _xy(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    """Metres east/north of (lat0, lon0): a local flat projection, fine within a few kilometres."""
    x = math.radians(lon - lon0) * EARTH_R_M * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * EARTH_R_M
    return x, y


def _in_sector(px: float, py: float, cam: CameraInfo, cx: float, cy: float) -> bool:
    dx, dy = px - cx, py - cy
    d = math.hypot(dx, dy)
    if d > cam.range_m:
        return False
    if d < 1e-6 or cam.fov_deg >= 360:
        return True
    bearing = math.degrees(math.atan2(dx, dy)) % 360  # clockwise from north, like heading_deg
    diff = abs((bearing - cam.heading_deg + 180) % 360 - 180)
    return diff <= cam.fov_deg / 2


def _sector_points(cam: CameraInfo, cx: float, cy: float, rings: int = 4, rays: int = 7) -> list[tuple[float, float]]:
    # the apex is left out: two cameras on one mast looking apart share a point, not a view
    pts = []
    for i in range(1, rings + 1):
        r = cam.range_m * (i - 0.5) / rings
        for j in range(rays):
            b = math.radians(cam.heading_deg - cam.fov_deg / 2 + cam.fov_deg * j / max(1, rays - 1))
            pts.append((cx + r * math.sin(b), cy + r * math.cos(b)))
    return pts


def fields_overlap(a: CameraInfo, b: CameraInfo) -> bool:
    """True when the two cameras' fields of view (sectors from position, heading, fov, range) intersect."""
    ax, ay = 0.0, 0.0
    bx, by = _xy(b.lat, b.lon, a.lat, a.lon)
    if math.hypot(bx, by) > a.range_m + b.range_m:
        return False
    return (any(_in_sector(x, y, b, bx, by) for x, y in _sector_points(a, ax, ay))
            or any(_in_sector(x, y, a, ax, ay) for x, y in _sector_points(b, bx, by)))


class VideoStage:
    """Video events → operational alerts (one per object) and camera-health maintenance alerts."""

    def __init__(self, neighbours: Callable[[str], Iterable[str]] | None = None,
                 config: VideoConfig | None = None) -> None:
        self.neighbours = neighbours
        self.config = config or VideoConfig()
        self.cameras: dict[str, _Camera] = {}
        self._by_cell: dict[str, set[str]] = {}
        self._overlap: dict[str, frozenset[str]] = {}
        self._objects: list[_Object] = []
        self._seen: dict[str, float] = {}  # event ids recently accepted (at-least-once delivery)
        self.counts: Counter = Counter()  # events by outcome
        self.rejected: deque[tuple[str, str]] = deque(maxlen=self.config.rejected_kept)

    # ------------------------------------------------------------------ registry
    def register(self, info: CameraInfo) -> None:
        """Add or update a camera; overlaps around it are recomputed lazily."""
        old = self.cameras.get(info.camera_id)
        if old is not None:
            self._by_cell.get(old.info.cell, set()).discard(info.camera_id)
            old.info = info
        else:
            self.cameras[info.camera_id] = _Camera(info)
        self._by_cell.setdefault(info.cell, set()).add(info.camera_id)
        self._overlap.clear()  # cheap to rebuild on demand; registrations are rare

    def overlapping(self, camera_id: str) -> frozenset[str]:
        """Cameras whose field of view intersects this one's (itself excluded)."""
        if camera_id not in self._overlap:
            cam = self.cameras[camera_id].info
            cells = list(self.neighbours(cam.cell)) if self.neighbours else list(self._by_cell)
            near = set().union(*(self._by_cell.get(c, set()) for c in set(cells) | {cam.cell}))
            self._overlap[camera_id] = frozenset(
                o for o in sorted(near) if o != camera_id and fields_overlap(cam, self.cameras[o].info))
        return self._overlap[camera_id]

    # ------------------------------------------------------------------ events
    def process(self, events: list[VideoEvent], now: float) -> list[Alert]:
        """Accept a batch of events; return new or grown object alerts and camera-health alerts."""
        touched: dict[str, _Object] = {}
        out: list[Alert] = []
        for ev in events:
            obj = self._one(ev, now, out)
            if obj is not None:
                touched[obj.alert_id] = obj
        for obj in touched.values():
            if self._worth_emitting(obj):
                out.append(self._alert(obj))
        return out

    def tick(self, now: float) -> list[Alert]:
        """Flush objects gone quiet (so no event id is lost) and report cameras gone silent."""
        out: list[Alert] = []
        keep = []
        for obj in self._objects:
            if now - obj.last_ts > self.config.dedup_window_s:
                if obj.emitted_ids and obj.emitted_ids < len(obj.event_ids):
                    out.append(self._alert(obj))
            else:
                keep.append(obj)
        self._objects = keep
        horizon = now - max(self.config.dedup_window_s, self.config.max_age_s)
        self._seen = {k: t for k, t in self._seen.items() if t >= horizon} if len(self._seen) > 50_000 else self._seen
        for cid in sorted(self.cameras):
            cam = self.cameras[cid]
            bursts = self.usual_rate(cam)[1]
            if cam.silent or cam.events < self.config.baseline_events or bursts <= 0:
                continue
            gap = 1.0 / bursts
            if now - cam.last_ts > max(self.config.silent_min_s, self.config.silent_factor * gap):
                cam.silent = True
                out.append(self._fault(cam, now, "silent",
                                       f"camera {cid} silent for {(now - cam.last_ts) / 60:.0f} min "
                                       f"(usually an event every {gap / 60:.1f} min)"))
        return out

    def _reject(self, ev: VideoEvent, reason: str, why: str) -> None:
        self.counts[reason] += 1
        self.rejected.append((ev.event_id, why))

    def _one(self, ev: VideoEvent, now: float, out: list[Alert]) -> _Object | None:
        cam = self.cameras.get(ev.camera_id)
        if cam is None:
            self._reject(ev, "unknown_camera", f"unknown camera {ev.camera_id!r}")
            return None
        if not math.isfinite(ev.ts) or now - ev.ts > self.config.max_age_s:
            self._reject(ev, "stale", f"event at {ev.ts} is older than {self.config.max_age_s:.0f}s")
            return None
        if ev.event_id in self._seen:
            self.counts["duplicate"] += 1  # redelivery, already counted in its object
            return None
        self._seen[ev.event_id] = ev.ts
        self._health(cam, ev.ts, out)
        kind = ev.type.value
        if ev.confidence < self.config.min_confidence.get(kind, 0.5):
            self._reject(ev, "low_confidence", f"{kind} at confidence {ev.confidence:.2f} below "
                                                f"{self.config.min_confidence.get(kind, 0.5):.2f}")
            return None
        if cam.flooding:
            self._reject(ev, "camera_flooding", f"camera {ev.camera_id} is flooding events; held back")
            return None
        if kind == "crowd" and ev.count is not None and ev.count < 1:
            self._reject(ev, "empty_crowd", "crowd event with a count of 0")
            return None
        self.counts["accepted"] += 1
        obj = self._match(ev)
        if obj is None:
            obj = _Object(alert_id=f"vid-{ev.event_id}", type=kind, first_ts=ev.ts, last_ts=ev.ts,
                          cameras=[ev.camera_id], tracks={ev.camera_id: ev.track_id}, event_ids=[ev.event_id],
                          confidence=ev.confidence, count=ev.count)
            self._objects.append(obj)
            return obj
        obj.last_ts = max(obj.last_ts, ev.ts)
        obj.first_ts = min(obj.first_ts, ev.ts)
        if ev.camera_id not in obj.tracks:
            obj.cameras.append(ev.camera_id)
            obj.tracks[ev.camera_id] = ev.track_id
        obj.event_ids.append(ev.event_id)
        obj.confidence = max(obj.confidence, ev.confidence)
        if ev.count is not None:
            obj.count = max(obj.count or 0, ev.count)
        return obj

    def _match(self, ev: VideoEvent) -> _Object | None:
        """The live object this sighting belongs to: same type, same or overlapping camera, close in time."""
        kind, cid = ev.type.value, ev.camera_id
        w = self.config.dedup_window_s
        best = None
        for obj in self._objects:
            if obj.type != kind or not (obj.first_ts - w <= ev.ts <= obj.last_ts + w):
                continue
            if cid in obj.tracks:
                # a different track on the same camera is a different object (when both are known)
                known = obj.tracks[cid]
                if known is not None and ev.track_id is not None and known != ev.track_id:
                    continue
            elif not (self.overlapping(cid) & set(obj.cameras)):
                continue
            if best is None or obj.last_ts > best.last_ts:
                best = obj
        return best

    def _worth_emitting(self, obj: _Object) -> bool:
        """First sighting, a new camera, or the frame count doubling: growth without an alert per frame."""
        n = len(obj.event_ids)
        return (obj.emitted_ids == 0 or len(obj.cameras) > obj.emitted_cameras or n >= 2 * obj.emitted_ids)

    def _alert(self, obj: _Object) -> Alert:
        obj.emitted_ids = len(obj.event_ids)
        obj.emitted_cameras = len(obj.cameras)
        first = self.cameras[obj.cameras[0]].info
        k = len(obj.cameras)
        score = 1.0 - (1.0 - obj.confidence) ** (1 + 0.5 * (k - 1))  # more cameras agreeing → surer
        sev = BASE_SEVERITY.get(obj.type, 2)
        if obj.type == "crowd" and obj.count and obj.count >= self.config.crowd_critical:
            sev += 1
        what = WORDS.get(obj.type, obj.type)
        extra = f", {obj.count} people" if obj.count else ""
        reason = (f"camera {first.name or first.camera_id} sees {what} (confidence {obj.confidence:.2f}{extra}; "
                  f"{len(obj.event_ids)} frame{'s' * (len(obj.event_ids) != 1)}, {k} camera{'s' * (k != 1)})")
        supporting = obj.type in self.config.supporting_types or (
            obj.type == "crowd" and (obj.count or 0) < self.config.crowd_alert_count
            and obj.last_ts - obj.first_ts < self.config.crowd_persist_s)
        return Alert(
            alert_id=obj.alert_id, ts=obj.last_ts, source="video", kind="operational",
            category=CATEGORY_OF_TYPE.get(obj.type, "other"), cell=first.cell, district=first.district,
            lat=first.lat, lon=first.lon, score=round(min(1.0, score), 4), severity=min(4, sev), reason=reason,
            subject_id=first.camera_id, message_ids=list(obj.event_ids),
            details={"type": obj.type, "cameras": list(obj.cameras), "frames": len(obj.event_ids),
                     "tracks": {c: t for c, t in obj.tracks.items() if t is not None},
                     "count": obj.count, "first_ts": obj.first_ts, "supporting": supporting},
        )

    # ------------------------------------------------------------------ health
    def _health(self, cam: _Camera, ts: float, out: list[Alert]) -> None:
        cfg = self.config
        if cam.events == 0:
            cam.first_ts = ts
            cam.bucket_start = ts
        self._close_buckets(cam, ts)
        cam.bucket_count += 1
        if cam.events == 0 or ts - cam.last_ts > cfg.burst_gap_s:
            cam.bucket_bursts += 1
        cam.events += 1
        cam.last_ts = max(cam.last_ts, ts)
        cam.silent = False  # alive again; the next silence raises a new alert
        cam.recent.append(ts)
        while cam.recent and cam.recent[0] < ts - cfg.flood_window_s:
            cam.recent.popleft()
        if cam.events < cfg.baseline_events:
            return
        usual = self.usual_rate(cam)[0] * cfg.flood_window_s
        limit = max(cfg.flood_min_events, cfg.flood_factor * usual)
        if not cam.flooding and len(cam.recent) > limit:
            cam.flooding = True
            out.append(self._fault(cam, ts, "flooding",
                                   f"camera {cam.info.camera_id} flooding: {len(cam.recent)} events in "
                                   f"{cfg.flood_window_s:.0f}s (usually {usual:.1f})"))
        elif cam.flooding and len(cam.recent) <= limit / 2:
            cam.flooding = False

    def _close_buckets(self, cam: _Camera, ts: float) -> None:
        """Fold finished rate buckets into the camera's usual rate; a flood's buckets teach nothing."""
        b = self.config.rate_bucket_s
        closed = 0
        while ts >= cam.bucket_start + b and closed < 12:  # a long gap adds at most 12 empty buckets
            if not cam.flooding:
                a = max(self.config.rate_alpha, 1.0 / (cam.buckets + 1))  # a plain mean until the EWMA has history
                cam.rate = (1 - a) * cam.rate + a * cam.bucket_count / b
                cam.burst_rate = (1 - a) * cam.burst_rate + a * cam.bucket_bursts / b
                cam.buckets += 1
            cam.bucket_start += b
            cam.bucket_count = 0
            cam.bucket_bursts = 0
            closed += 1
        if ts >= cam.bucket_start + b:  # skip the rest of a very long gap without learning from it
            cam.bucket_start += b * ((ts - cam.bucket_start) // b)

    def usual_rate(self, camera: _Camera | str) -> tuple[float, float]:
        """(frames, bursts) per second this camera usually sends, from its own history; 0 while unknown."""
        cam = self.cameras[camera] if isinstance(camera, str) else camera
        if cam.buckets >= self.config.baseline_buckets:
            return cam.rate, cam.burst_rate
        return 0.0, 0.0

    def _fault(self, cam: _Camera, ts: float, what: str, reason: str) -> Alert:
        info = cam.info
        return Alert(
            alert_id=f"camfault-{info.camera_id}-{what}-{int(ts)}", ts=ts, source="video", kind="maintenance",
            category="camera_fault", cell=info.cell, district=info.district, lat=info.lat, lon=info.lon,
            score=0.9, severity=2 if what == "silent" else 1, reason=reason, subject_id=info.camera_id,
            message_ids=[], details={"fault": what, "usual_per_h": round(3600 * self.usual_rate(cam)[0], 2),
                     "events": cam.events},
        )
