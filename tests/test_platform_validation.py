"""Validation refuses bad input with a reason and never raises."""

import base64
import json

import pytest

from streams.validation import Validator

NOW = 1_795_000_000.0


@pytest.fixture
def v():
    return Validator("city.sensor.readings", "city.video.events", "city.hotline.calls",
                     sensors={"s1": object()}, cameras={"cam1": object()},
                     inside_city=lambda lat, lon: 22.5 < lat < 24 and 112.9 < lon < 114.1)


def reading(**kw):
    return {"sensor_id": "s1", "ts": NOW - 10, "value": 1.0, **kw}


@pytest.mark.parametrize("raw, why", [
    (b"{not json", "bad JSON"),
    (b"", "empty"),
    (b"[1,2]", "not a JSON object"),
    (json.dumps(reading(sensor_id="ghost")).encode(), "unknown sensor"),
    (json.dumps(reading(ts=NOW + 86400)).encode(), "in the future"),
    (json.dumps(reading(ts="yesterday")).encode(), "ts"),
    (json.dumps({"sensor_id": "s1", "value": 1}).encode(), "ts: Field required"),
    (b"\xff\xfe\x00garbage", "bad JSON"),
])
def test_bad_readings_go_to_dlq_with_reason(v, raw, why):
    out = v.readings(raw, key=b"r1c1", partition=2, offset=9, now=NOW)
    assert not out.good
    assert len(out.refused) == 1
    dl = out.refused[0]
    assert why in dl.reason
    assert dl.topic == "city.sensor.readings" and dl.partition == 2 and dl.offset == 9
    assert base64.b64decode(dl.original_b64) == raw


def test_a_batch_keeps_its_good_readings_and_refuses_the_bad_ones(v):
    raw = json.dumps({"cell": "r1c1", "readings": [reading(), reading(sensor_id="ghost"), reading(value=None)]}).encode()
    out = v.readings(raw, now=NOW)
    assert [r.sensor_id for r in out.good] == ["s1", "s1"]
    assert out.good[1].value is None
    assert len(out.refused) == 1 and out.refused[0].reason.startswith("readings[1]: unknown sensor")


def test_hotline_refuses_outside_coordinates_binary_huge_and_blank(v):
    base = {"call_id": "c1", "ts": NOW, "text": "路面积水"}
    assert v.hotline(json.dumps(base).encode(), now=NOW).good
    cases = {
        "outside the city": {**base, "lat": 40.0, "lon": 116.4},
        "lat: Input should be less than or equal to 90": {**base, "lat": 123.0, "lon": 113.3},
        "blank": {**base, "text": "   "},
        "binary": {**base, "text": "\x00\x01\x02\x03\x04\x05\x06"},
        "at most 20000 characters": {**base, "text": "水" * 30_000},
    }
    for why, doc in cases.items():
        out = v.hotline(json.dumps(doc).encode(), now=NOW)
        assert not out.good and why in out.refused[0].reason, (why, out.refused[0].reason)
    big = v.hotline(b"{" + b" " * 1_100_000 + b"}", now=NOW)
    assert "limit" in big.refused[0].reason


def test_video_checks_camera_and_confidence(v):
    ev = {"event_id": "e1", "camera_id": "cam1", "ts": NOW, "type": "crowd", "confidence": 0.9}
    assert v.video(json.dumps(ev).encode(), now=NOW).good
    assert "unknown camera" in v.video(json.dumps({**ev, "camera_id": "x"}).encode(), now=NOW).refused[0].reason
    assert "confidence" in v.video(json.dumps({**ev, "confidence": 2}).encode(), now=NOW).refused[0].reason
    assert "type" in v.video(json.dumps({**ev, "type": "ufo"}).encode(), now=NOW).refused[0].reason


def test_infinite_or_nan_values_are_refused_but_null_is_a_missing_reading(v):
    ok = v.readings(json.dumps(reading(value=None)).encode(), now=NOW)
    assert ok.good and ok.good[0].value is None
    for literal in (b"NaN", b"Infinity", b"1e999"):
        raw = b'{"sensor_id": "s1", "ts": %d, "value": %s}' % (int(NOW - 10), literal)
        out = v.readings(raw, now=NOW)
        assert not out.good and "finite number" in out.refused[0].reason
