"""Stream-developer tools against a real broker: create topics idempotently, produce, tail."""

import json
import time

from streams.admin import create_topics, list_topics
from streams.catalog import all_specs
from streams.tools import produce, tail


def test_create_topics_is_idempotent(broker):
    assert create_topics(broker, partitions=4) == []  # the fixture already created them
    names = set(list_topics(broker))
    assert {s.name for s in all_specs(4)} <= names


def test_produce_then_tail_round_trip_with_validation(broker):
    call = {"call_id": f"c-{time.time_ns()}", "ts": time.time(), "text": "天河路口积水很深", "cell": "r068c036"}
    bad = {"call_id": "x", "ts": "soon"}
    res = produce(broker, "city.hotline.calls", [json.dumps(call), "{oops", json.dumps(bad)], validate=True)
    assert res.sent == 1
    assert len(res.errors) == 2 and "not JSON" in res.errors[0] and "ts" in res.errors[1]
    lines = list(tail(broker, "city.hotline.calls", from_beginning=True, idle_timeout=3))
    docs = [json.loads(x) for x in lines]
    assert call in docs


def test_produce_refuses_unknown_topics(broker):
    res = produce(broker, "city.nope", ["{}"])
    assert res.sent == 0 and "not in the topic catalog" in res.errors[0]
