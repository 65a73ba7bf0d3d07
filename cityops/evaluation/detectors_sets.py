"""Labelled series for `cityops evaluate detectors`, built from ../shared/data/sensors and the synthetic generator.

Each series carries timestamps (epoch s), values (NaN = missing), and labels (start, end) in epoch s.
Labelling rules (documented so the figures can be reproduced and argued with):
- Beijing air, PM2.5 per station (hourly, local time UTC+8): the Spring Festival fireworks
  (2014-01-31 00:00), the APEC blue-sky period (2014-11-03..12, a negative anomaly), and every
  severe-pollution episode by the national standard (daily mean PM2.5 > 250 µg/m³, GB 3095-2012
  "severely polluted"; an episode starts on the first such day, days closer than 2 apart merge; the
  2014-02-20..26 haze is one of them), plus data gaps (6 or more missing hours in a row).
- Aarhus car parks (30-min counts): each time a car park starts reporting more cars than spaces
  after at least a day without (the fault (re)appearing; readings within an ongoing over-count
  are not new events) and feed gaps > 2 h.
- Hangzhou metro (10-min passenger counts, service day 05:30-23:30 local): semi-synthetic crowd
  surges (x1.8-3 for 30-60 min) injected into the real flows after the first week, 2 per station.
- Synthetic: each anomaly kind on daily + weekly seasonal series, some irregularly sampled, some
  with missing values (detectors.synthetic).
- Simulator: the simulated city (streams.simulator) with scheduled scenarios (waterlogging, fire,
  pollution, jams, crowds, pipe bursts, sensor faults) and its background sensor faults; each
  touched sensor is labelled by the scenario truth, as many untouched sensors are added clean.
Splits: within each set, even-numbered series tune the threshold, odd-numbered ones are held out.
"""

from __future__ import annotations

import calendar
import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detectors import synthetic

BEIJING_TZ = 8 * 3600


@dataclass
class Series:
    set: str
    name: str
    ts: np.ndarray
    values: np.ndarray
    labels: list[tuple[float, float]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    split: str = "tune"


def _local(y: int, m: int, d: int, h: int = 0, mi: int = 0, tz: int = BEIJING_TZ) -> float:
    return float(calendar.timegm((y, m, d, h, mi, 0)) - tz)


def _nan_runs(ts: np.ndarray, v: np.ndarray, min_len: int) -> list[tuple[float, float]]:
    miss = ~np.isfinite(v)
    out, i, n = [], 0, len(v)
    while i < n:
        if miss[i]:
            j = i
            while j < n and miss[j]:
                j += 1
            if j - i >= min_len:
                out.append((float(ts[i]), float(ts[j - 1])))
            i = j
        else:
            i += 1
    return out


def beijing(root: Path) -> list[Series]:
    out = []
    for k, path in enumerate(sorted((root / "beijing_air").glob("PRSA_Data_*.csv"))):
        ts, v = [], []
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                ts.append(_local(int(r["year"]), int(r["month"]), int(r["day"]), int(r["hour"])))
                v.append(float(r["PM2.5"]) if r["PM2.5"] not in ("NA", "") else math.nan)
        t, x = np.array(ts), np.array(v)
        labels = [(_local(2014, 1, 31), _local(2014, 1, 31, 6)), (_local(2014, 11, 3), _local(2014, 11, 12, 23))]
        kinds = ["fireworks", "apec_blue_sky"]
        for a, b in _severe_episodes(t, x):
            if not any(abs(a - la) < 2 * 86400 for la, _ in labels):
                labels.append((a, b))
                kinds.append("severe_haze")
        for a, b in _nan_runs(t, x, 6):
            labels.append((a, b))
            kinds.append("gap")
        order = np.argsort([a for a, _ in labels])
        out.append(Series("beijing_pm25", path.stem.replace("PRSA_Data_", ""), t, x,
                          [labels[i] for i in order], [kinds[i] for i in order], "tune" if k % 2 == 0 else "heldout"))
    return out


def _severe_episodes(t: np.ndarray, x: np.ndarray, limit: float = 250.0) -> list[tuple[float, float]]:
    day = ((t + BEIJING_TZ) // 86400).astype(np.int64)
    sums, counts = defaultdict(float), defaultdict(int)
    for d, v in zip(day.tolist(), x.tolist()):
        if math.isfinite(v):
            sums[d] += v
            counts[d] += 1
    bad = sorted(d for d in sums if counts[d] >= 12 and sums[d] / counts[d] > limit)
    episodes: list[list[int]] = []
    for d in bad:
        if episodes and d - episodes[-1][1] <= 2:
            episodes[-1][1] = d
        else:
            episodes.append([d, d])
    return [(a * 86400.0 - BEIJING_TZ, (b + 1) * 86400.0 - BEIJING_TZ) for a, b in episodes]


def aarhus(root: Path) -> list[Series]:
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    with open(root / "aarhus_citypulse" / "aarhus_parking.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            y, mo, d = (int(p) for p in r["updatetime"][:10].split("-"))
            hh, mm, ss = r["updatetime"][11:19].split(":")
            t = calendar.timegm((y, mo, d, int(hh), int(mm), int(ss))) - 2 * 3600  # CEST
            rows[r["garagecode"]].append((float(t), float(r["vehiclecount"]), float(r["totalspaces"])))
    out = []
    for k, name in enumerate(sorted(rows)):
        a = np.array(sorted(rows[name]))
        t, v, cap = a[:, 0], a[:, 1], a[:, 2]
        labels, kinds = [], []
        over = np.nonzero(v > cap)[0]
        for k, i in enumerate(over):
            if k == 0 or t[i] - t[over[k - 1]] > 86400:  # the counter starts over-counting again
                labels.append((float(t[i]), float(t[i])))
                kinds.append("over_capacity")
        dt = np.diff(t)
        for i in np.nonzero(dt > 7200)[0]:
            labels.append((float(t[i]), float(t[i + 1])))
            kinds.append("gap")
        order = np.argsort([s for s, _ in labels])
        out.append(Series("aarhus_parking", name, t, v, [labels[i] for i in order], [kinds[i] for i in order],
                          "tune" if k % 2 == 0 else "heldout"))
    return out


def hangzhou(root: Path, seed: int = 2019) -> list[Series]:
    flows: dict[int, dict[tuple[str, int], float]] = defaultdict(dict)
    with open(root / "hangzhou_metro_flow_2019" / "hangzhou_metro_station_flow_long.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            flows[int(r["station_id"])][(r["date"], int(r["interval_index"]))] = float(r["passenger_count"])
    rng = np.random.default_rng(seed)
    out = []
    for sid in sorted(flows):
        keys = sorted(flows[sid])
        t = np.array([_local(*(int(p) for p in d.split("-")), 5, 30) + 600.0 * i for d, i in keys])
        v = np.array([flows[sid][k] for k in keys])
        labels = []
        days = sorted({d for d, _ in keys})
        for day in rng.choice(np.arange(8, len(days)), size=2, replace=False):
            start = int(rng.integers(9, 100))  # 07:00 .. 22:10
            length = int(rng.integers(3, 7))
            i0 = keys.index((days[day], start))
            v[i0:i0 + length] = np.round(v[i0:i0 + length] * rng.uniform(1.8, 3.0) + 20)
            labels.append((float(t[i0]), float(t[i0 + length - 1])))
        out.append(Series("hangzhou_metro", f"station{sid}", t, v, sorted(labels), ["crowd_surge"] * 2,
                          "tune" if sid % 2 == 0 else "heldout"))
    return out


def synthetic_set(n_seeds: int = 6) -> list[Series]:
    out = []
    for kind in synthetic.ANOMALY_KINDS:
        for seed in range(n_seeds):
            s = synthetic.make(kind, seed=100 + seed, days=21, irregular=seed % 3 == 1, nan_frac=0.02 * (seed % 3 == 2))
            labels = [] if s.start < 0 else [(float(s.ts[s.start]), float(s.ts[min(s.end, len(s.ts)) - 1]))]
            out.append(Series("synthetic", f"{kind}{seed}", s.ts, s.values, labels, [kind] * len(labels),
                              "tune" if seed % 2 == 0 else "heldout"))
    return out


def simulated(days: int = 10, n_sensors: int = 600, scenarios: int = 40, interval_s: float = 600.0,
              seed: int = 4) -> list[Series]:
    """The simulator's city with injected scenarios and its background sensor faults (streams.simulator):
    every sensor a scenario or fault touches, plus as many untouched ones, labelled by the truth."""
    from streams import settings as settings_mod
    from streams.city import load_city
    from streams.simulator import Simulator

    st = settings_mod.load()
    city = load_city(st.city_geojson, st.cell_m)
    t0 = _local(2024, 3, 4)  # a Monday
    t1 = t0 + days * 86400.0
    sim = Simulator(city, seed=seed, n_sensors=n_sensors, n_cameras=0, start=t0, interval_s=interval_s)
    # scenarios only after the detectors' probation (the first 15% of the series is not scored)
    sim.schedule(scenarios, seed=seed, duration=0.8 * (t1 - t0) - 6 * 3600, start=t0 + 0.18 * (t1 - t0))
    truths = [tr for tr in sim.truths(t0, t1) if tr.start >= t0 + 0.16 * (t1 - t0)]
    ticks = list(sim.ticks(t0, t1))
    vals = np.array([sim.values(k) for k in ticks])  # ticks x sensors
    ts = np.array([k * interval_s for k in ticks], dtype=float)
    sensors, _ = sim.registry()
    col = {s.sensor_id: i for i, s in enumerate(sensors)}
    by_sensor: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for tr in truths:
        for sid in tr.sensors:
            by_sensor[sid].append((tr.start, tr.end, tr.type))
    rng = np.random.default_rng(seed)
    clean = [s.sensor_id for s in sensors if s.sensor_id not in by_sensor]
    chosen = sorted(by_sensor) + list(rng.choice(clean, size=min(len(clean), len(by_sensor)), replace=False))
    out = []
    for k, sid in enumerate(sorted(chosen)):
        labs = sorted(by_sensor.get(sid, []))
        out.append(Series("simulator", sid, ts, vals[:, col[sid]].astype(float), [(a, b) for a, b, _ in labs],
                          [c for _, _, c in labs], "tune" if k % 2 == 0 else "heldout"))
    return out


def load_all(root: Path | None, sets: list[str] | None = None) -> list[Series]:
    """Every labelled series; the real-data sets only when `root` (../shared/data/sensors) exists."""
    want = set(sets or ["beijing_pm25", "aarhus_parking", "hangzhou_metro", "injected", "artificial", "synthetic",
                        "simulator"])
    out: list[Series] = []
    if root is not None and root.is_dir():
        if "beijing_pm25" in want:
            out += beijing(root)
        if "aarhus_parking" in want:
            out += aarhus(root)
        if "hangzhou_metro" in want:
            out += hangzhou(root)
        if "injected" in want:
            from cityops.evaluation.detectors_injected import injected

            out += injected(root)
    if "artificial" in want:
        from cityops.evaluation.detectors_injected import artificial

        out += artificial()
    if "synthetic" in want:
        out += synthetic_set()
    if "simulator" in want:
        out += simulated()
    return out
