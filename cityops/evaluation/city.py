"""`cityops evaluate city`: inject labelled scenarios into a simulated city, run them through the pipeline, score.

Two modes run the same stages (`streams.worker.build_pipeline`):
- real pipeline (the reported figures): an embedded broker, `cityops worker` as a subprocess, the
  simulator's messages produced to the input topics in event-time order (compressed time, throttled
  on the worker's committed offsets so no topic runs hours ahead of another), fusion's
  `IncidentUpdate`s read back from `city.fusion.updates`;
- in-process (`--in-process`, for fast tuning): the same pipeline object driven directly, readings
  handed to the sensor stage without the JSON round trip.
By default the detectors start cold with the evaluated week. `--warmup-days D` lets the simulated city
live D days more before it (background and the fleet's own faults, no scenarios) while the sensor
stage learns that history without alerting, as detectors that have run for a while would have; the
real pipeline hands it to its worker the way a restarted worker gets it, as a detector snapshot
(`streams.snapshots`). Cold is the default because the fusion rules were tuned on cold runs: warm
detectors currently let more sensor faults into incidents (in-process, seeds 11 and 12, 7 days of
warm-up: faults 2.0 / 2.2 % cold -> 6.0 / 6.7 % warm, precision 0.948 / 0.967 -> 0.907 / 0.932).
Scoring lives in `cityops.evaluation.city_score`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cityops.evaluation.city_score import score, table
from streams import catalog
from streams.admin import committed_offsets
from streams.schemas import IncidentUpdate, ScenarioTruth, SensorBatch, encode
from streams.settings import Settings, load

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass
class CityEvalConfig:
    scenarios: int = 210
    seed: int = 20261122
    days: float = 7.0
    sensors: int = 3000
    cameras: int = 300
    interval_s: float = 120.0  # seconds between two readings of one sensor
    slack_s: float = 1800.0  # how far outside [start, end] an incident may open and still count
    speedup: float = 0.0  # simulated seconds per wall second in the real pipeline; 0 = as fast as it keeps up
    step_s: float = 1800.0  # simulated seconds generated per step
    #: the producer waits while any input topic is more than this (sim time) ahead of the worker, so
    #: the worker's agents stay within a step of each other (fusion times incidents by event time)
    max_lag_s: float = 1800.0
    tail_s: float = 3 * 3600.0  # quiet time after the last scenario so late evidence can arrive
    start: float | None = None  # event time of the first tick; default: `days` before now (the past)
    warmup_days: float = 0.0  # history the detectors learn before the evaluated week (see the module doc)


@dataclass
class RunResult:
    truths: list[ScenarioTruth]
    updates: list[IncidentUpdate]
    n_sensors: int
    t0: float
    t1: float
    stats: dict[str, Any] = field(default_factory=dict)


#: default start of simulated time (2026-11-01 00:00 UTC): a fixed past date makes a seed's run repeatable
ANCHOR = 1_793_491_200.0


def window(cfg: CityEvalConfig, wall_now: float) -> tuple[float, float]:
    """Simulated time range, ending in the past (the validator refuses the future)."""
    span = cfg.days * DAY_S
    t0 = cfg.start if cfg.start is not None else ANCHOR
    if t0 + span > wall_now - 3600:  # a long run (or a clock before the anchor): end an hour ago instead
        t0 = math.floor((wall_now - span - 2 * 3600) / 3600) * 3600
    return float(t0), float(t0 + span)


def build_simulator(cfg: CityEvalConfig, settings: Settings, t0: float, t1: float):
    from streams.city import load_city
    from streams.simulator import Simulator

    city = load_city(settings.city_geojson, settings.cell_m)
    sim = Simulator(city, seed=cfg.seed, n_sensors=cfg.sensors, n_cameras=cfg.cameras, start=t0,
                    interval_s=cfg.interval_s)
    sim.schedule(cfg.scenarios, seed=cfg.seed, duration=max(3600.0, t1 - t0 - cfg.tail_s), start=t0)
    return city, sim, sim.truths(t0, t1)  # the injected scenarios plus the background's labelled faults


def warm_up(sim, stage, t0: float, days: float) -> int:
    """The sensor stage learns the simulated city's `days` before t0 (no alerts); returns readings learnt."""
    ids = sim.sensor_ids
    return sum(stage.learn(ids, *sim.sample(tick)) for tick in sim.ticks(t0 - days * DAY_S, t0))


def _ticks(em, interval_s: float):
    """Split one step's emissions into reading ticks: (readings, video, calls) in event-time order."""
    slots: dict[int, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    for b in em.batches:
        for r in b.readings:
            slots[int(r.ts // interval_s)][0].append(r)
    for v in em.video:
        slots[int(v.ts // interval_s)][1].append(v)
    for c in em.calls:
        slots[int(c.ts // interval_s)][2].append(c)
    for k in sorted(slots):
        yield slots[k]


def district_batches(batches: list[SensorBatch], district_of: Callable[[str], str]) -> dict[str, SensorBatch]:
    """Coalesce one tick's per-cell gateway batches into one batch per district (keyed by district).

    A cell always lands in the same district batch, so a sensor's readings always reach the same
    partition; the broker then carries ~11 messages per tick instead of ~1,300.
    """
    readings: dict[str, list] = defaultdict(list)
    for b in batches:
        readings[district_of(b.cell)].extend(b.readings)
    return {d: SensorBatch(cell="", gateway=f"district-gw-{d}", readings=r) for d, r in sorted(readings.items())}


# ---------------------------------------------------------------------------- in-process

def run_in_process(cfg: CityEvalConfig, settings: Settings | None = None,
                   progress: Callable[[str], None] | None = None) -> RunResult:
    """Drive the worker's pipeline object directly (no broker): the fast mode for tuning."""
    from streams.pipeline import Raw
    from streams.worker import build_pipeline

    settings = settings or load()
    t0, t1 = window(cfg, time.time())
    city, sim, truths = build_simulator(cfg, settings, t0, t1)
    pipe = build_pipeline(settings, resume=False)  # an evaluation starts every detector cold
    sensors, cameras = sim.registry()
    for s in sensors:
        pipe.register_sensor(s)
    for c in cameras:
        pipe.register_camera(c)
    updates: list[IncidentUpdate] = []
    counts: dict[str, int] = defaultdict(int)
    counts["warmup_readings"] = warm_up(sim, pipe.sensor_stage, t0, cfg.warmup_days)
    wall0 = time.monotonic()
    t = t0
    while t < t1:
        step_end = min(t1, t + cfg.step_s)
        for readings, video, calls in _ticks(sim.step(t, step_end), cfg.interval_s):
            counts["readings"] += len(readings)
            counts["video"] += len(video)
            counts["calls"] += len(calls)
            alerts = []
            if readings:
                for r in readings:
                    pipe.clock.saw(r.ts)
                alerts += pipe.sensor_stage.process(readings, pipe.clock.now())
            if video:
                alerts += pipe.video([Raw(encode(v), v.camera_id.encode()) for v in video]).alerts
            if calls:
                alerts += pipe.hotline([Raw(encode(c), (c.cell or "").encode()) for c in calls]).alerts
            tick = pipe.tick()
            alerts += tick.alerts
            updates += tick.updates
            counts["alerts"] += len(alerts)
            counts["operational_alerts"] += sum(a.kind == "operational" for a in alerts)
            updates += pipe.fuse(alerts)
        t = step_end
        if progress and int((t - t0) // DAY_S) != int((t - cfg.step_s - t0) // DAY_S):
            progress(f"simulated day {(t - t0) / DAY_S:.0f}/{cfg.days:g}: {len(updates)} updates, "
                     f"{time.monotonic() - wall0:.0f}s wall")
    counts["wall_s"] = round(time.monotonic() - wall0, 1)
    return RunResult(truths, updates, len(sensors), t0, t1, dict(counts))


# ---------------------------------------------------------------------------- real pipeline

def run_pipeline(cfg: CityEvalConfig, settings: Settings | None = None,
                 progress: Callable[[str], None] | None = None, worker_log: Path | None = None) -> RunResult:
    """Embedded broker + `cityops worker` subprocess; produce the simulation, collect fusion's updates."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    from streams.admin import create_topics
    from streams.broker import EmbeddedBroker

    settings = settings or load()
    say = progress or (lambda s: None)
    t0, t1 = window(cfg, time.time())
    city, sim, truths = build_simulator(cfg, settings, t0, t1)
    sensors, cameras = sim.registry()
    district_of = lambda cid: city.cells[cid].district  # noqa: E731
    camera_cell = {c.camera_id: c.cell for c in cameras}
    app_id = f"cityops-eval-{os.getpid()}"
    rundir = Path(tempfile.mkdtemp(prefix="cityops-eval-"))
    worker_log = worker_log or rundir / "worker.log"
    counts: dict[str, int] = defaultdict(int)
    # a fresh var directory: the worker must not resume detectors from an earlier run, only from the warm-up
    worker_settings = replace(settings, var_dir=rundir / "var", app_id=app_id)
    counts["warmup_readings"] = _warm_snapshot(cfg, city, sim, sensors, t0,
                                               worker_settings.detector_snapshots / "warmup.npz")
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap, settings.partitions, settings.replication)
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "CITYOPS_APP_ID": app_id,
               "CITYOPS_RUN_DIR": str(rundir), "CITYOPS_LOG": "WARNING", "CITYOPS_VAR": str(worker_settings.var_dir)}
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=1 << 20,
                                 max_request_size=16 << 20, acks=1)
        for s in sensors:
            producer.send(catalog.REGISTRY_SENSORS.name, key=s.sensor_id.encode(), value=encode(s))
        for c in cameras:
            producer.send(catalog.REGISTRY_CAMERAS.name, key=c.camera_id.encode(), value=encode(c))
        for tr in truths:
            producer.send(catalog.SIM_TRUTH.name, key=tr.scenario_id.encode(), value=encode(tr))
        producer.flush()
        with open(worker_log, "ab") as wlog:
            # cwd: Faust writes its data directory there, which must not land in the user's tree
            worker = subprocess.Popen([sys.executable, "-m", "cityops.cli", "worker"], env=env, cwd=rundir,
                                      stdout=wlog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        consumer = KafkaConsumer(catalog.FUSION_UPDATES.name, bootstrap_servers=broker.bootstrap,
                                 auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                                 fetch_max_wait_ms=100, consumer_timeout_ms=200)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        updates: list[IncidentUpdate] = []

        def drain() -> None:
            for rec in consumer:
                try:
                    updates.append(IncidentUpdate.model_validate_json(rec.value))
                except ValueError as exc:
                    log.warning("refused a fusion update at offset %s: %s", rec.offset, exc)

        try:
            deadline = time.monotonic() + 120
            while not (rundir / "worker.ready").exists():
                if worker.poll() is not None:
                    raise RuntimeError(f"cityops worker exited with {worker.returncode}; see {worker_log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cityops worker not ready after 120 s; see {worker_log}")
                time.sleep(0.5)
            say(f"worker ready (broker {broker.bootstrap}, log {worker_log})")
            wall0 = time.monotonic()
            produced: dict[str, int] = defaultdict(int)  # per input topic
            t = t0
            while t < t1:
                step_end = min(t1, t + cfg.step_s)
                em = sim.step(t, step_end)
                # one district batch per reading tick, interleaved with video and calls by event time
                by_tick: dict[float, list[SensorBatch]] = defaultdict(list)
                for b in em.batches:
                    if b.readings:
                        by_tick[b.readings[0].ts // cfg.interval_s].append(b)
                out: list[tuple[float, str, bytes, bytes]] = []
                for _, bs in sorted(by_tick.items()):
                    for d, batch in district_batches(bs, district_of).items():
                        ts = min(r.ts for r in batch.readings)
                        out.append((ts, catalog.SENSOR_READINGS.name, d.encode(), encode(batch)))
                        counts["readings"] += len(batch.readings)
                out += [(v.ts, catalog.VIDEO_EVENTS.name, camera_cell.get(v.camera_id, "").encode(), encode(v))
                        for v in em.video]
                out += [(c.ts, catalog.HOTLINE_CALLS.name, (c.cell or "").encode(), encode(c)) for c in em.calls]
                out.sort(key=lambda x: (x[0], x[1]))
                for _, topic, key, value in out:
                    producer.send(topic, key=key, value=value)
                    produced[topic] += 1
                counts["video"] += len(em.video)
                counts["calls"] += len(em.calls)
                producer.flush()
                t = step_end
                drain()
                if worker.poll() is not None:
                    raise RuntimeError(f"cityops worker exited with {worker.returncode}; see {worker_log}")
                _throttle(cfg, admin, app_id, produced, wall0, t - t0, worker)
                if int((t - t0) // DAY_S) != int((t - cfg.step_s - t0) // DAY_S):
                    say(f"simulated day {(t - t0) / DAY_S:.0f}/{cfg.days:g}: {len(updates)} updates, "
                        f"{time.monotonic() - wall0:.0f}s wall")
            _wait_caught_up(admin, app_id, produced, worker, timeout=600)
            time.sleep(3.0)  # the fusion agent's last take window and producer linger
            drain()
            counts["wall_s"] = round(time.monotonic() - wall0, 1)
        finally:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
            consumer.close()
            admin.close()
            producer.close()
    return RunResult(truths, updates, len(sensors), t0, t1, dict(counts))


def _warm_snapshot(cfg: CityEvalConfig, city, sim, sensors, t0: float, path: Path) -> int:
    """Learn the warm-up history in a sensor stage here and leave it where the worker resumes from."""
    from detectors.sensor_stage import SensorStage
    from streams import snapshots

    if cfg.warmup_days <= 0:
        return 0
    stage = SensorStage(neighbours=lambda c: city.neighbours(c, 1))
    for s in sensors:
        stage.register(s)
    n = warm_up(sim, stage, t0, cfg.warmup_days)
    snapshots.save(stage.bank, path)
    return n


def _behind(admin, app_id: str, produced: dict[str, int]) -> dict[str, int]:
    """Messages per input topic the worker's consumer group has not committed yet."""
    done: dict[str, int] = defaultdict(int)
    for (topic, _), off in committed_offsets(admin, app_id).items():
        done[topic] += off
    return {topic: max(0, n - done.get(topic, 0)) for topic, n in produced.items()}


def _throttle(cfg: CityEvalConfig, admin, app_id: str, produced: dict[str, int], wall0: float,
              sim_elapsed: float, worker: subprocess.Popen) -> None:
    """Keep compressed time honest: an optional fixed speedup, and no input topic more than
    `max_lag_s` of simulated time ahead of the worker (so one agent never runs hours ahead of another)."""
    if cfg.speedup > 0:
        ahead = sim_elapsed / cfg.speedup - (time.monotonic() - wall0)
        if ahead > 0:
            time.sleep(ahead)
    share = cfg.max_lag_s / max(sim_elapsed, cfg.max_lag_s)
    while worker.poll() is None:
        behind = _behind(admin, app_id, produced)
        if all(behind[t] <= max(1.0, produced[t] * share) for t in produced):
            return
        time.sleep(0.2)


def _wait_caught_up(admin, app_id: str, produced: dict[str, int], worker: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        if not any(_behind(admin, app_id, produced).values()):
            return
        time.sleep(0.5)
    log.warning("worker did not catch up within %.0f s: %s", timeout, _behind(admin, app_id, produced))


# ---------------------------------------------------------------------------- entry point

def evaluate(cfg: CityEvalConfig, in_process: bool = False, json_out: Path | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run and score; print nothing (the command prints `table`), write JSON when asked."""
    settings = load()
    run = (run_in_process if in_process else run_pipeline)(cfg, settings, progress=progress)
    from streams.city import load_city

    city = load_city(settings.city_geojson, settings.cell_m)
    report = score(run.truths, run.updates, lambda c: city.neighbours(c, 1), n_sensors=run.n_sensors,
                   t0=run.t0, t1=run.t1, slack_s=cfg.slack_s)
    report["run"].update({"mode": "in-process" if in_process else "pipeline", "config": asdict(cfg),
                          "counts": run.stats, "updates": len(run.updates)})
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return report


__all__ = ["CityEvalConfig", "RunResult", "evaluate", "run_in_process", "run_pipeline", "table", "window"]
