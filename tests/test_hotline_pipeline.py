"""The hotline stage inside the worker's pipeline: raw Kafka values in, alerts and dead letters out."""

from __future__ import annotations

import json
import time

import pytest

from detectors.hotline import HotlineStage, Router
from streams.city import load_city
from streams.hotline_model import train_seed
from streams.pipeline import Pipeline, Raw
from streams.settings import Settings


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    s = Settings()
    city = load_city(s.city_geojson, s.cell_m)
    stage = HotlineStage(train_seed(), Router(), neighbours=lambda c: city.neighbours(c, 1))
    return Pipeline(city, hotline_stage=stage)


def test_raw_calls_become_alerts_and_bad_ones_dead_letters(pipeline: Pipeline) -> None:
    now = time.time()
    cell = next(iter(pipeline.city.cells.values()))
    good = [{"call_id": f"p{i}", "ts": now - 10 + i, "text": "天河路口积水到膝盖了，车都熄火了", "lat": cell.lat,
             "lon": cell.lon} for i in range(3)]
    good.append({"call_id": "p9", "ts": now, "text": "有人问社保卡怎么补办"})  # no place at all
    bad = [b"", b"\x00\xff" * 100, json.dumps({"call_id": "x", "ts": now, "text": "a" * 20_001}).encode(),
           json.dumps({"call_id": "y", "ts": now, "text": "\x01\x02\x03" * 40}).encode(),
           b"{" + b"a" * 1_000_001]
    out = pipeline.hotline([Raw(json.dumps(g).encode()) for g in good] + [Raw(b) for b in bad])
    assert len(out.dead) == len(bad) and all(d.reason for d in out.dead)
    alerts = out.alerts + pipeline.hotline_stage.tick(now + 60)  # growth below the next doubling is flushed
    ids = {m for a in alerts for m in a.message_ids}
    assert ids == {"p0", "p1", "p2", "p9"}
    water = [a for a in alerts if a.category == "waterlogging"]
    assert water and water[-1].cell == cell.id and water[-1].district == cell.district
