"""Video-analytics events: the cameras' background chatter and the tracks a scenario shows them.

An analytics engine reports an object track as several events (frames) with the same `track_id`,
a few to tens of seconds apart, with confidence varying around the track's level. Cameras in one
cell overlap: a scenario is seen by several of them, each with its own track, and a long scene is
re-acquired every few minutes under a new track id (see `scenarios._camera_tracks`).

Background (default `rate_per_hour` = 0.5 events per camera per hour, a daily cycle):
- 45 % false detections: any type, confidence 0.05-0.45, one frame;
- 40 % illegal parking, daytime, confidence 0.55-0.90, 2-5 frames;
- 15 % crowds: metro-station cameras at rush hour (count 30-150, confidence 0.5-0.8), else a
  low-confidence small crowd.
Deterministic per (seed, hour bucket).
"""

from __future__ import annotations

import numpy as np

from streams.schemas import VideoEvent
from streams.simulator.background import LOCAL_OFFSET_S, local_hour, rush
from streams.simulator.world import World

TYPES = ("crowd", "smoke_fire", "standing_water", "illegal_parking", "fallen_person", "traffic_accident")


def track(rng: np.random.Generator, camera_id: str, track_id: str, etype: str, t_from: float, t_to: float,
          confidence: float, period_s: float = 20.0, count: int | None = None,
          max_frames: int = 30) -> list[VideoEvent]:
    """Frames of one track from t_from to t_to, about every `period_s` seconds."""
    out: list[VideoEvent] = []
    t = t_from + float(rng.uniform(0, period_s))
    k = 0
    while t < t_to and k < max_frames:
        conf = float(np.clip(confidence + rng.normal(0, 0.05), 0.01, 0.99))
        cnt = None if count is None else max(0, int(count * rng.uniform(0.85, 1.15)))
        out.append(VideoEvent(event_id=f"{track_id}-f{k}", camera_id=camera_id, ts=round(t, 3), type=etype,
                              confidence=round(conf, 3), track_id=track_id, count=cnt))
        k += 1
        t += period_s * float(rng.uniform(0.6, 1.4))
    return out


def _activity(h):
    """Relative scene activity by local hour: busy afternoons, quiet nights."""
    return np.clip(np.exp(-((np.asarray(h) - 14) / 5.0) ** 2) * 1.4, 0.15, 1.2)


_ACTIVITY_MEAN = float(_activity(np.arange(0.0, 24.0, 0.05)).mean())


def background_video(world: World, seed: int, hour: int, rate_per_hour: float,
                     offset_s: float = LOCAL_OFFSET_S) -> list[VideoEvent]:
    """Background events of one hour bucket (epoch hours), deterministic for (seed, hour)."""
    if not world.cameras:
        return []
    rng = np.random.default_rng([seed, 6, hour])
    h = float(local_hour(hour * 3600.0 + 1800.0, offset_s))
    n = int(rng.poisson(rate_per_hour * len(world.cameras) * float(_activity(h)) / _ACTIVITY_MEAN))
    stations = set(world.stations)
    out: list[VideoEvent] = []
    for j in range(n):
        cam = world.cameras[int(rng.integers(len(world.cameras)))]
        t0 = hour * 3600.0 + float(rng.uniform(0, 3600))
        tid = f"bg-{seed}-{hour}-{j}"
        u = rng.random()
        if u < 0.45:
            et = TYPES[int(rng.integers(len(TYPES)))]
            out += track(rng, cam.camera_id, tid, et, t0, t0 + 1, float(rng.uniform(0.05, 0.45)), max_frames=1)
        elif u < 0.85:
            if 7 <= h < 22:
                out += track(rng, cam.camera_id, tid, "illegal_parking", t0, t0 + float(rng.uniform(30, 120)),
                             float(rng.uniform(0.55, 0.9)), period_s=30.0, max_frames=5)
        else:
            busy = cam.cell in stations and float(rush(h)) > 0.4
            conf = float(rng.uniform(0.5, 0.8)) if busy else float(rng.uniform(0.2, 0.45))
            cnt = int(rng.integers(30, 150)) if busy else int(rng.integers(5, 30))
            out += track(rng, cam.camera_id, tid, "crowd", t0, t0 + float(rng.uniform(20, 90)), conf,
                         period_s=20.0, count=cnt, max_frames=4)
    return out
