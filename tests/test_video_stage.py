"""VideoStage: overlap geometry, confidence floors, de-duplication across frames/cameras, camera health."""

from __future__ import annotations

from detectors.video import VideoConfig, VideoStage, fields_overlap
from streams.schemas import CameraInfo, VideoEvent

T0 = 1_790_000_000.0
LAT, LON = 23.13, 113.26
M_LAT = 1 / 111_320.0  # degrees of latitude per metre


def cam(cid: str, north_m: float = 0.0, heading: float = 0.0, fov: float = 90.0, rng: float = 80.0,
        cell: str = "r001c001") -> CameraInfo:
    return CameraInfo(camera_id=cid, cell=cell, district="d1", lat=LAT + north_m * M_LAT, lon=LON,
                      heading_deg=heading, fov_deg=fov, range_m=rng)


def ev(eid: str, cid: str, ts: float, type_: str = "standing_water", conf: float = 0.9,
       track: str | None = None, count: int | None = None) -> VideoEvent:
    return VideoEvent(event_id=eid, camera_id=cid, ts=ts, type=type_, confidence=conf, track_id=track, count=count)


def stage(*cams: CameraInfo, **cfg) -> VideoStage:
    s = VideoStage(neighbours=lambda c: [c], config=VideoConfig(**cfg))
    for c in cams:
        s.register(c)
    return s


def test_fields_overlap_from_position_heading_fov_range() -> None:
    a = cam("a", 0, heading=0)  # looks north
    facing = cam("b", 100, heading=180)  # 100 m north, looks south: the views meet
    away = cam("c", 100, heading=0)  # 100 m north looking further north: 20 m gap
    far = cam("d", 1000, heading=180)
    assert fields_overlap(a, facing) and fields_overlap(facing, a)
    assert not fields_overlap(a, away)
    assert not fields_overlap(a, far)
    assert fields_overlap(a, cam("e", 0, heading=60))  # same mast, views 30° apart
    assert not fields_overlap(a, cam("f", 0, heading=180))  # same mast, looking away


def test_frames_of_one_track_make_one_alert_with_all_ids() -> None:
    s = stage(cam("a"))
    out = s.process([ev(f"e{i}", "a", T0 + i, track="t1") for i in range(3)], T0 + 3)
    assert len(out) == 1 and out[0].message_ids == ["e0", "e1", "e2"]
    assert out[0].category == "waterlogging" and out[0].kind == "operational"
    # one more frame: not worth a new alert yet (3 -> 4 < 2 × 3)... until it doubles
    assert s.process([ev("e3", "a", T0 + 4, track="t1")], T0 + 4) == []
    grown = s.process([ev(f"e{i}", "a", T0 + i, track="t1") for i in range(4, 6)], T0 + 6)
    assert len(grown) == 1 and grown[0].alert_id == out[0].alert_id and len(grown[0].message_ids) == 6
    # a frame after the last emission is flushed when the object goes quiet: no id is lost
    assert s.process([ev("e6", "a", T0 + 7, track="t1")], T0 + 7) == []
    flushed = s.tick(T0 + 7 + 301)
    assert [a.message_ids[-1] for a in flushed if a.kind == "operational"] == ["e6"]


def test_different_track_same_camera_is_another_object() -> None:
    s = stage(cam("a"))
    out = s.process([ev("e1", "a", T0, track="t1"), ev("e2", "a", T0 + 1, track="t2")], T0 + 1)
    assert len({a.alert_id for a in out}) == 2


def test_overlapping_cameras_dedup_but_not_disjoint_ones() -> None:
    s = stage(cam("a", 0, heading=0), cam("b", 100, heading=180), cam("c", 100, heading=0))
    out = s.process([ev("e1", "a", T0, track="x"), ev("e2", "b", T0 + 5, track="y")], T0 + 5)
    assert len({a.alert_id for a in out}) == 1
    last = out[-1]
    assert last.details["cameras"] == ["a", "b"] and last.message_ids == ["e1", "e2"]
    other = s.process([ev("e3", "c", T0 + 6, track="z")], T0 + 6)
    assert len(other) == 1 and other[0].alert_id != last.alert_id
    # a different type on an overlapping camera is a different object too
    assert s.process([ev("e4", "b", T0 + 7, type_="crowd", count=80)], T0 + 7)[0].category == "crowd"


def test_far_apart_in_time_is_a_new_object() -> None:
    s = stage(cam("a"))
    a1 = s.process([ev("e1", "a", T0)], T0)[0]
    a2 = s.process([ev("e2", "a", T0 + 3600)], T0 + 3600)[0]
    assert a1.alert_id != a2.alert_id


def test_min_confidence_per_type_is_configurable_and_counted() -> None:
    s = stage(cam("a"), min_confidence={"standing_water": 0.8})
    assert s.process([ev("e1", "a", T0, conf=0.7)], T0) == []
    assert s.counts["low_confidence"] == 1 and s.rejected[-1][0] == "e1"
    assert len(s.process([ev("e2", "a", T0 + 1, conf=0.85)], T0 + 1)) == 1


def test_unknown_camera_stale_and_duplicate_events_are_counted_not_alerted() -> None:
    s = stage(cam("a"))
    assert s.process([ev("e1", "zz", T0)], T0) == []
    assert s.process([ev("e2", "a", T0 - 7 * 3600)], T0) == []
    s.process([ev("e3", "a", T0)], T0)
    assert s.process([ev("e3", "a", T0)], T0) == []
    assert (s.counts["unknown_camera"], s.counts["stale"], s.counts["duplicate"]) == (1, 1, 1)


def _steady(s: VideoStage, cid: str, n: int, gap: float, start: float = T0, conf: float = 0.1) -> float:
    """n low-confidence background events every `gap` s (they teach the camera's usual rate)."""
    for i in range(n):
        s.process([ev(f"{cid}-bg{i}", cid, start + i * gap, conf=conf)], start + i * gap)
    return start + (n - 1) * gap


def test_silent_camera_raises_one_maintenance_alert_and_rearms() -> None:
    s = stage(cam("a"), silent_factor=5.0, silent_min_s=600.0, rate_bucket_s=600.0, baseline_buckets=1)
    last = _steady(s, "a", 20, 60.0)
    assert [a for a in s.tick(last + 500)] == []  # 500 s < max(600, 5 × 60)
    faults = s.tick(last + 700)
    assert len(faults) == 1 and faults[0].kind == "maintenance" and faults[0].category == "camera_fault"
    assert faults[0].details["fault"] == "silent"
    assert s.tick(last + 900) == []  # once per episode
    s.process([ev("back", "a", last + 1000, conf=0.1)], last + 1000)
    assert len(s.tick(last + 1000 + 700)) == 1


def test_rare_camera_judged_against_its_own_rate() -> None:
    s = stage(cam("a"), silent_factor=5.0, silent_min_s=600.0, rate_bucket_s=600.0, baseline_buckets=1)
    last = _steady(s, "a", 20, 1800.0)
    assert s.tick(last + 2 * 3600) == []  # 2 h quiet is normal for a camera that speaks every 30 min
    assert len(s.tick(last + 3 * 3600)) == 1  # 3 h is more than 5 × its usual gap


def test_flooding_camera_raises_maintenance_and_no_incident_evidence() -> None:
    s = stage(cam("a"), flood_min_events=20, flood_factor=10.0)
    last = _steady(s, "a", 20, 60.0)
    burst = [ev(f"f{i}", "a", last + 10 + i * 0.5, type_="smoke_fire", conf=0.95) for i in range(40)]
    out = s.process(burst, last + 30)
    faults = [a for a in out if a.kind == "maintenance"]
    assert len(faults) == 1 and faults[0].details["fault"] == "flooding"
    op_ids = {m for a in out if a.kind == "operational" for m in a.message_ids}
    assert len(op_ids) < 25  # the events after the flood was seen are held back
    assert s.counts["camera_flooding"] > 0


def test_no_health_verdict_before_the_usual_rate_is_known() -> None:
    s = stage(cam("a"))  # default: a day of hourly buckets before silence can be judged
    last = _steady(s, "a", 20, 60.0)
    assert s.tick(last + 6 * 3600) == []


def test_parked_cars_and_small_crowds_are_supporting_only() -> None:
    s = stage(cam("a"))
    park = s.process([ev("p1", "a", T0, type_="illegal_parking", conf=0.9)], T0)[0]
    small = s.process([ev("c1", "a", T0 + 1, type_="crowd", count=80)], T0 + 1)[0]
    big = s.process([ev("c2", "a", T0 + 2, type_="crowd", count=400, track="t9")], T0 + 2)[0]
    assert park.details["supporting"] and small.details["supporting"] and not big.details["supporting"]


def test_a_small_crowd_that_stays_in_view_is_no_longer_only_supporting() -> None:
    s = stage(cam("a"))
    first = s.process([ev("c1", "a", T0, type_="crowd", count=120, track="t1")], T0)[0]
    assert first.details["supporting"]
    later = []
    for k in range(1, 8):  # the same track, one frame every 30 s: 210 s in view
        later += s.process([ev(f"c1-{k}", "a", T0 + 30 * k, type_="crowd", count=120, track="t1")], T0 + 30 * k)
    assert later and later[-1].alert_id == first.alert_id and not later[-1].details["supporting"]
    assert all(a.details["supporting"] for a in later if a.ts - T0 < 180)
