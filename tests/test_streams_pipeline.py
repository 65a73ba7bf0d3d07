"""The worker's pipeline without Kafka: validation routing, stream time, per-district metrics."""

import json

from streams.city import load_city
from streams.pipeline import ONLINE_S, Pipeline, Raw, StreamClock
from streams.schemas import SensorInfo
from streams.settings import load

NOW = 1_795_000_000.0


class Wall:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def pipeline(wall: Wall) -> Pipeline:
    s = load()
    city = load_city(s.city_geojson, s.cell_m)
    p = Pipeline(city, wall=wall)
    for i, cell in enumerate(["r068c036", "r068c037"]):
        c = city.cells[cell]
        p.register_sensor(SensorInfo(sensor_id=f"pm-{i}", kind="pm25", cell=cell, district=c.district, lat=c.lat, lon=c.lon))
    return p


def batch(cell: str, *readings: tuple[str, float, float | None]) -> Raw:
    doc = {"cell": cell, "readings": [{"sensor_id": s, "ts": t, "value": v} for s, t, v in readings]}
    return Raw(json.dumps(doc).encode(), cell.encode(), 1, 7)


def test_good_readings_are_counted_and_bad_ones_refused_with_their_topic():
    wall = Wall(NOW)
    p = pipeline(wall)
    out = p.readings([batch("r068c036", ("pm-0", NOW - 60, 35.0), ("ghost", NOW - 60, 1.0)), Raw(b"{oops", b"k")])
    assert [d.topic for d in out.dead] == ["city.sensor.readings", "city.sensor.readings"]
    assert "unknown sensor" in out.dead[0].reason and out.dead[0].partition == 1 and out.dead[0].offset == 7
    assert out.dead[1].reason.startswith("bad JSON")
    wall.t += 2
    m = {x.district: x for x in p.metrics()}
    tianhe = m[p.city.cells["r068c036"].district]
    assert tianhe.readings == 1 and tianhe.sensors_reporting == 1 and tianhe.sensors_known == 2
    assert tianhe.sensors_online == 1
    assert tianhe.kinds["pm25"]["mean"] == 35.0
    assert m["unknown"].dead_letters == 2


def test_sensors_go_offline_after_online_window_of_stream_time():
    wall = Wall(NOW)
    p = pipeline(wall)
    p.readings([batch("r068c036", ("pm-0", NOW - 60, 35.0)), batch("r068c037", ("pm-1", NOW - 60, 30.0))])
    district = p.city.cells["r068c036"].district
    assert {x.district: x for x in p.metrics()}[district].sensors_online == 2
    # only pm-1 keeps reporting while stream time moves past the online window
    later = NOW - 60 + ONLINE_S + 60
    wall.t = later
    p.readings([batch("r068c037", ("pm-1", later, 31.0))])
    assert {x.district: x for x in p.metrics()}[district].sensors_online == 1


def test_hotline_calls_get_their_cell_and_district_from_coordinates():
    wall = Wall(NOW)
    p = pipeline(wall)
    cell = p.city.cells["r068c036"]
    call = {"call_id": "c1", "ts": NOW - 5, "text": "路口积水很深，车过不去", "lat": cell.lat, "lon": cell.lon}
    placed = p._place_call(p.validator.hotline(json.dumps(call).encode(), now=NOW).good[0])
    assert placed.cell == "r068c036" and placed.district == cell.district


def test_stream_clock_follows_events_then_the_wall():
    wall = Wall(NOW)
    clock = StreamClock(wall)
    assert clock.now() == NOW
    clock.saw(NOW - 3600)
    assert clock.now() == NOW - 3600
    clock.saw(float("nan"))
    clock.saw(NOW - 7200)  # late data does not move time back
    wall.t += 10
    assert clock.now() == NOW - 3600 + 10


def test_hotline_hot_spots_count_each_merged_signal_once_at_its_newest_size():
    from streams.schemas import Alert

    wall = Wall(NOW)
    p = pipeline(wall)
    cell = p.city.cells["r068c036"]

    def signal(n: int, ts: float) -> Alert:
        return Alert(alert_id="hl-sig-c1", ts=ts, source="hotline", kind="operational", category="waterlogging",
                     cell=cell.id, district=cell.district, lat=cell.lat, lon=cell.lon, score=0.9,
                     reason=f"{n} calls", subject_id="sig-c1", message_ids=[f"c{i}" for i in range(n)])

    p.clock.saw(NOW - 100)
    p._note_signals([signal(2, NOW - 100), signal(4, NOW - 90)])  # the same signal, re-sent as it grew
    top = {m.district: m for m in p.metrics()}[cell.district].hotline_top
    assert top == [{"category": "waterlogging", "cell": cell.id, "count": 4}]
    p.clock.saw(NOW + 3700)  # an hour later the signal no longer counts
    assert {m.district: m for m in p.metrics()}[cell.district].hotline_top == []


def test_maintenance_alerts_reach_fusion_which_decides_what_they_are_evidence_of():
    from detectors.fusion import FusionConfig, Fuser
    from streams.schemas import Alert

    s = load()
    city = load_city(s.city_geojson, s.cell_m)
    c = city.cells["r068c036"]
    fuser = Fuser(neighbours=lambda cid: city.neighbours(cid, 1), config=FusionConfig(isolated_evidence=True))
    p = Pipeline(city, wall=Wall(NOW), fuser=fuser)
    common = dict(district=c.district, lat=c.lat, lon=c.lon, severity=2, cell="r068c036")
    counter = Alert(alert_id="pf1", ts=NOW, source="sensor", kind="maintenance", category="sensor_fault", score=0.9,
                    reason="counter far above its neighbours", subject_id="PF-1", message_ids=["m1"],
                    details={"sensor_kind": "passenger_flow", "isolated": True, "event_category": "crowd"}, **common)
    stuck = counter.model_copy(update={"alert_id": "st1", "subject_id": "PF-2",
                                       "details": {"sensor_kind": "passenger_flow", "isolated": True}})
    call = Alert(alert_id="c1", ts=NOW + 60, source="hotline", kind="operational", category="crowd", score=0.7,
                 reason="caller: packed station", subject_id="sig-1", message_ids=["call-1"],
                 details={"probability": 0.9}, **common)
    assert p.fuse([counter, stuck]) == []
    ups = p.fuse([call])
    assert len(ups) == 1 and {e.alert_id for e in ups[0].evidence} == {"pf1", "c1"}
    assert ("st1", "maintenance alerts never open incidents") in fuser.refused  # a fault is refused, with why
