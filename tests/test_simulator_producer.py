"""The simulator's producer against the session's real broker: registries, inputs and truth land on their topics."""

from __future__ import annotations

import json
import time

from streams import catalog
from streams import settings as settings_mod
from streams.city import load_city
from streams.simulator import Simulator
from streams.simulator.producer import run, sim_start
from streams.tools import tail


def test_sim_start_keeps_timestamps_in_the_past():
    now = 2_000_000_000.0
    assert sim_start(now, 1.0, None, 60) == now - 60
    s = sim_start(now, 100.0, 3600.0, 60)
    # the run lasts 36 wall seconds; the last sim time it reaches is exactly the wall clock then
    assert s + 3600 == now + 3600 / 100.0


def test_small_run_puts_messages_on_every_topic(broker, tmp_path):
    s = settings_mod.load()
    city = load_city(s.city_geojson, s.cell_m)
    seed = 4242
    sim = Simulator(city, seed=seed, n_sensors=200, n_cameras=30, calls_per_hour=600)
    now = time.time()
    start = now - 1800
    cell = sim.world.cells_with("water_level")[0]
    truth = sim.inject("waterlogging", cell, start + 60, 0.9)
    stats = run(sim, broker, speedup=1e6, duration=1800, start=start, truth_path=tmp_path / "truth.jsonl",
                tick_s=0.05, warmup_s=600)
    assert stats.sim_start == start - 600 and stats.sim_end == start + 1800
    assert stats.sent[catalog.REGISTRY_SENSORS.name] == 200
    assert stats.sent[catalog.SENSOR_READINGS.name] > 0 and stats.sent[catalog.HOTLINE_CALLS.name] > 0
    assert stats.truth == 1
    lines = (tmp_path / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["scenario_id"] for x in lines] == [truth.scenario_id]

    def docs(topic):
        return [json.loads(x) for x in tail(broker, topic, from_beginning=True, idle_timeout=1)]

    ids = {x["sensor_id"] for x in docs(catalog.REGISTRY_SENSORS.name)}
    assert {si.sensor_id for si in sim.world.sensors} <= ids
    batches = [d for d in docs(catalog.SENSOR_READINGS.name)
               if d.get("readings") and d["readings"][0]["sensor_id"] in {si.sensor_id for si in sim.world.sensors}]
    assert len(batches) == stats.sent[catalog.SENSOR_READINGS.name]
    assert all(r["ts"] <= time.time() for b in batches for r in b["readings"])
    assert any(d["scenario_id"] == truth.scenario_id for d in docs(catalog.SIM_TRUTH.name))
    calls = [d for d in docs(catalog.HOTLINE_CALLS.name) if d["call_id"].startswith(f"call-{seed}-")
             or d["call_id"].startswith(f"call-{truth.scenario_id}")]
    assert len(calls) == stats.sent[catalog.HOTLINE_CALLS.name]


def test_live_run_catches_up_with_the_clock_and_stops_on_request(broker):
    import threading

    s = settings_mod.load()
    sim = Simulator(load_city(s.city_geojson, s.cell_m), seed=4343, n_sensors=50, n_cameras=5)
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    begun = time.time()
    stats = run(sim, broker, speedup=1.0, start=begun - 300, warmup_s=120, stop=stop, tick_s=0.1)
    timer.cancel()
    assert stats.sim_start == begun - 420
    assert begun < stats.sim_end <= time.time()  # caught up past the 7-minute lag, never ahead
