"""Publish a `Simulator` to Kafka (kafka-python): registries first, then the city, in real or compressed time.

Simulated time starts in the past so that no timestamp ever exceeds the wall clock: with speedup X
and a run of D simulated seconds, sim time starts at now - D * (1 - 1/X) and reaches now just as the
run ends; without a duration it starts a day back (speedup > 1) and, once it catches up with the
wall clock, simply follows it. Inputs are keyed by grid cell; truth goes to `city.sim.truth` (keyed
by scenario id) and optionally to a JSONL file, written as each scenario starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer

from streams import catalog
from streams.admin import create_topics
from streams.schemas import encode
from streams.simulator.engine import Emissions, Simulator

log = logging.getLogger(__name__)

WARMUP_CHUNK_S = 300.0


@dataclass
class RunStats:
    sim_start: float = 0.0
    sim_end: float = 0.0
    sent: dict[str, int] = field(default_factory=dict)
    truth: int = 0

    def add(self, topic: str, n: int = 1) -> None:
        self.sent[topic] = self.sent.get(topic, 0) + n


def sim_start(now: float, speedup: float, duration: float | None, interval: float) -> float:
    """Where simulated time begins so that it never runs ahead of the wall clock."""
    if speedup <= 1.0:
        return now - interval
    span = duration if duration is not None else 86_400.0
    return now - max(interval, span * (1.0 - 1.0 / speedup))


def publish_registry(producer: KafkaProducer, sim: Simulator, stats: RunStats) -> None:
    sensors, cameras = sim.registry()
    for s in sensors:
        producer.send(catalog.REGISTRY_SENSORS.name, key=s.sensor_id.encode(), value=encode(s))
    for c in cameras:
        producer.send(catalog.REGISTRY_CAMERAS.name, key=c.camera_id.encode(), value=encode(c))
    stats.add(catalog.REGISTRY_SENSORS.name, len(sensors))
    stats.add(catalog.REGISTRY_CAMERAS.name, len(cameras))


def publish(producer: KafkaProducer, sim: Simulator, em: Emissions, stats: RunStats, truth_file=None) -> None:
    """Send one step's emissions, inputs keyed by cell (bytes)."""
    cam_cell = {c.camera_id: c.cell for c in sim.world.cameras}
    for sc in em.truth:  # truth first: an evaluator must know a scenario before its evidence arrives
        producer.send(catalog.SIM_TRUTH.name, key=sc.scenario_id.encode(), value=encode(sc))
        if truth_file is not None:
            truth_file.write(sc.model_dump_json() + "\n")
            truth_file.flush()
    stats.truth += len(em.truth)
    for b in em.batches:
        producer.send(catalog.SENSOR_READINGS.name, key=b.cell.encode(), value=encode(b))
    for e in em.video:
        producer.send(catalog.VIDEO_EVENTS.name, key=cam_cell[e.camera_id].encode(), value=encode(e))
    for c in em.calls:
        producer.send(catalog.HOTLINE_CALLS.name, key=(c.cell or "").encode(), value=encode(c))
    stats.add(catalog.SENSOR_READINGS.name, len(em.batches))
    stats.add(catalog.VIDEO_EVENTS.name, len(em.video))
    stats.add(catalog.HOTLINE_CALLS.name, len(em.calls))


def run(sim: Simulator, bootstrap: str, *, speedup: float = 1.0, duration: float | None = None,
        start: float | None = None, truth_path: Path | None = None, partitions: int = 4,
        stop: threading.Event | None = None, on_ready: Callable[[], None] | None = None,
        wall: Callable[[], float] = time.time, tick_s: float = 0.5, reschedule: Callable[[float], None] | None = None,
        warmup_s: float = 0.0) -> RunStats:
    """Run the simulator against a broker until `duration` simulated seconds have passed (or `stop`).

    First `warmup_s` simulated seconds before `start` are produced as fast as possible (history, so that
    detectors have a baseline when the paced run begins). Then each loop advances sim time by the
    elapsed wall time x `speedup`, capped at the wall clock. `reschedule(t)` is called before each
    step so a forever-run can keep adding scenarios."""
    if speedup <= 0:
        raise ValueError("speedup must be > 0")
    stop = stop or threading.Event()
    create_topics(bootstrap, partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024,
                             max_request_size=4 * 1024 * 1024, acks=1,
                             enable_idempotence=False)  # at-least-once; Tansu has no idempotent producer
    paced_from = start if start is not None else sim_start(wall(), speedup, duration, sim.interval_s)
    end = None if duration is None else paced_from + duration
    t_sim = paced_from - max(0.0, warmup_s)
    stats = RunStats(sim_start=t_sim, sim_end=t_sim)
    truth_file = open(truth_path, "a", encoding="utf-8") if truth_path else None
    try:
        publish_registry(producer, sim, stats)
        producer.flush(30)
        if on_ready is not None:
            on_ready()
        while not stop.is_set() and t_sim < paced_from:  # warm-up history, as fast as it can be produced
            t_next = min(paced_from, t_sim + WARMUP_CHUNK_S)
            if reschedule is not None:
                reschedule(t_next)
            publish(producer, sim, sim.step(t_sim, t_next), stats, truth_file)
            t_sim = stats.sim_end = t_next
        w_prev = wall()
        while not stop.is_set() and (end is None or t_sim < end):
            now = wall()
            t_next = min(t_sim + max(0.0, now - w_prev) * speedup, now)
            if speedup == 1.0 and end is None:
                t_next = now  # live: catch up whatever the warm-up or a slow step cost, then follow the clock
            if end is not None:
                t_next = min(t_next, end)
            w_prev = now
            if t_next > t_sim:
                if reschedule is not None:
                    reschedule(t_next)
                publish(producer, sim, sim.step(t_sim, t_next), stats, truth_file)
                t_sim = t_next
                stats.sim_end = t_sim
            stop.wait(tick_s)
        producer.flush(30)
    finally:
        producer.close(10)
        if truth_file is not None:
            truth_file.close()
    return stats


def rates_table(sim: Simulator, speedup: float) -> str:
    """The default message rates, per simulated second and per wall second at `speedup`."""
    lines = [f"{'topic':28} {'msg/s (sim)':>12} {'msg/s (wall)':>13}"]
    for topic, r in sim.rates().items():
        lines.append(f"{topic:28} {r:12.3f} {r * speedup:13.3f}")
    return "\n".join(lines)

