"""`cityops bench detectors`: points/s of one series detector and readings/s of the DetectorBank.

The bank is timed on the production path (the same detector the evaluation scores), one reading
per sensor per batch as a gateway sweep delivers them, after a warm-up so every slot is learning.
Rates are per CPU-second of this process ("on one core"), so other work on a shared machine does
not count against them; wall-clock rates and the load average are reported beside them.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from detectors import DetectorBank, make_series_detector, synthetic


def series_rate(points: int = 100_000, repeats: int = 3) -> tuple[float, float]:
    s = synthetic.make("none", seed=11, days=max(1, math.ceil(points * 600 / 86400)), nan_frac=0.01)
    ts, vs = s.ts[:points].tolist(), s.values[:points].tolist()
    best, best_wall = math.inf, math.inf
    for _ in range(repeats):
        det = make_series_detector()
        f = det.score_one
        t0, w0 = time.process_time(), time.perf_counter()
        for t, v in zip(ts, vs):
            f(t, v)
        best = min(best, time.process_time() - t0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return len(ts) / max(best, 1e-9), len(ts) / best_wall


def bank_rate(n_sensors: int, min_readings: int = 2_000_000, max_seconds: float = 20.0, warm_batches: int = 30,
              repeat_share: float = 0.0) -> tuple[float, float]:
    """Readings/s for batches of one reading per sensor (optionally with a share of repeated slots)."""
    rng = np.random.default_rng(n_sensors)
    bank = DetectorBank(capacity=n_sensors)
    slots = bank.slots([f"s{i}" for i in range(n_sensors)])
    level = rng.uniform(10, 100, n_sensors)
    if repeat_share:
        extra = rng.choice(slots, int(repeat_share * n_sensors))
        slots = np.concatenate([slots, extra])
        level = np.concatenate([level, level[extra]])

    def batch(k: int) -> tuple[np.ndarray, np.ndarray]:
        ts = np.full(len(slots), 1_700_000_000.0 + 600.0 * k)
        h = (ts[0] % 86400) / 3600
        v = level * (1 + 0.3 * math.sin(h / 24 * 2 * math.pi)) + rng.normal(0, 1, len(slots))
        return ts, v

    for k in range(warm_batches):
        bank.update(slots, *batch(k))
    pre = [batch(warm_batches + k) for k in range(8)]  # data made outside the timed loop
    done, spent, wall, k = 0, 0.0, 0.0, 0
    while done < min_readings and wall < max_seconds:
        ts, v = pre[k % len(pre)]
        ts = ts + 600.0 * (k // len(pre)) * len(pre)
        t0, w0 = time.process_time(), time.perf_counter()
        bank.update(slots, ts, v)
        spent += time.process_time() - t0
        wall += time.perf_counter() - w0
        done += len(slots)
        k += 1
    return done / max(spent, 1e-9), done / wall


def stage_rate(n_sensors: int = 10_000, batches: int = 40) -> tuple[float, float]:
    """Readings/s through SensorStage.process (registry, bank, corroboration, alerts) on pydantic readings."""
    from detectors import SensorStage
    from streams.schemas import SensorInfo, SensorReading

    side = max(1, int(math.sqrt(n_sensors / 4)))

    def ring(cell: str) -> list[str]:
        r, c = (int(x) for x in cell[1:].split("c"))
        return [f"r{r + dr}c{c + dc}" for dr in (-1, 0, 1) for dc in (-1, 0, 1)]

    stage = SensorStage(neighbours=ring)
    kinds = ("water_level", "pm25", "traffic_speed", "passenger_flow")
    ids = [f"s{i}" for i in range(n_sensors)]
    for i, sid in enumerate(ids):
        stage.register(SensorInfo(sensor_id=sid, kind=kinds[i % 4], cell=f"r{(i // 4) // side}c{(i // 4) % side}",
                                  district="d", lat=23.0, lon=113.0))
    rng = np.random.default_rng(1)
    level = rng.uniform(10, 100, n_sensors)
    made = [[SensorReading(sensor_id=sid, ts=1_700_000_000.0 + 600.0 * k, value=float(level[i] + rng.normal(0, 1)))
             for i, sid in enumerate(ids)] for k in range(batches)]
    cpu = wall = 0.0
    for k, batch in enumerate(made):
        t0, w0 = time.process_time(), time.perf_counter()
        stage.process(batch, now=batch[0].ts)
        if k >= batches // 2:  # the second half: every detector warm
            cpu += time.process_time() - t0
            wall += time.perf_counter() - w0
    n = n_sensors * (batches - batches // 2)
    return n / max(cpu, 1e-9), n / wall


def run(json_out: str | None, sizes: list[int], echo: Callable[[str], None] = print) -> dict[str, Any]:
    cpu, wall = series_rate()
    res: dict[str, Any] = {"series_points_per_s": round(cpu), "bank_readings_per_s": {},
                           "series_points_per_s_wall": round(wall), "bank_readings_per_s_wall": {},
                           "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    echo(f"{'what':<44}{'per CPU-second':>18}{'wall clock':>16}")
    echo(f"{'series detector (one object, pure Python)':<44}{round(cpu):>15,} pt{round(wall):>13,} pt")
    for n in sizes:
        cpu, wall = bank_rate(n)
        res["bank_readings_per_s"][str(n)] = round(cpu)
        res["bank_readings_per_s_wall"][str(n)] = round(wall)
        echo(f"{f'bank, {n:,} sensors, 1 reading each/batch':<44}{round(cpu):>15,} rd{round(wall):>13,} rd")
    cpu, wall = bank_rate(10_000, repeat_share=0.25)
    res["bank_readings_per_s_10000_with_25pct_repeats"] = round(cpu)
    echo(f"{'bank, 10,000 sensors + 25% repeated slots':<44}{round(cpu):>15,} rd{round(wall):>13,} rd")
    cpu, wall = stage_rate()
    res["stage_readings_per_s_10000"] = round(cpu)
    echo(f"{'SensorStage.process, 10,000 sensors':<44}{round(cpu):>15,} rd{round(wall):>13,} rd")
    echo(f"load average {res['load_average_1min']} on {res['cpus']} CPUs while measuring")
    if json_out:
        Path(json_out).write_text(json.dumps(res, indent=2))
    return res
