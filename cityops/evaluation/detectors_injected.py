"""A benchmark-shaped labelled set: real sensor backgrounds with a few injected anomalies each.

The other real sets are labelled by rules that fire often (gaps, severe-haze days); a public
streaming benchmark instead has long real series, zero to four anomalies each, of many shapes.
This set imitates that shape so that tuning does not chase one data set's label density:
- backgrounds are real series we hold no labels for: Beijing temperature, pressure, dew point,
  O3, NO2, CO and wind speed (hourly, a 4,000-7,000 hour stretch of one station), Aarhus road
  speed and vehicle counts (5-min), Aarhus weather (irregular, unsorted rows sorted), Hangzhou
  metro station flows (10-min, service hours only);
- each gets 0-3 anomalies at random places after the first fifth: a spike or dip, a level shift,
  a flat-lined (stuck) stretch, a noise burst, a slow drift, or a day whose daily pattern is lost;
- magnitudes are multiples of the series' own robust day-to-day scale (MAD of the 24 h difference),
  drawn uniformly from subtle (about 1.5x) to obvious (about 8x), so the set is neither easy nor
  impossible; a fifth of the series are left clean, where every detection is a false alarm.
The windows scoring (`detectors_scoring`) then works exactly as for the other sets.
"""

from __future__ import annotations

import calendar
import csv
import math
from pathlib import Path

import numpy as np

from cityops.evaluation.detectors_sets import Series, _local

SHAPES = ("spike", "dip", "level_shift", "stuck", "noise", "drift", "pattern_loss")
BEIJING_VARS = ("TEMP", "PRES", "DEWP", "O3", "NO2", "CO", "WSPM")


def _beijing_backgrounds(root: Path, rng: np.random.Generator, n: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    paths = sorted((root / "beijing_air").glob("PRSA_Data_*.csv"))
    picks = [(paths[i % len(paths)], BEIJING_VARS[i % len(BEIJING_VARS)]) for i in range(n)]
    cache: dict[Path, list[dict[str, str]]] = {}
    out = []
    for path, var in picks:
        rows = cache.get(path)
        if rows is None:
            with open(path, newline="") as fh:
                rows = cache[path] = list(csv.DictReader(fh))
        length = int(rng.integers(4000, 7000))
        a = int(rng.integers(0, len(rows) - length))
        seg = rows[a:a + length]
        ts = np.array([_local(int(r["year"]), int(r["month"]), int(r["day"]), int(r["hour"])) for r in seg])
        v = np.array([float(r[var]) if r[var] not in ("NA", "") else math.nan for r in seg])
        out.append((f"{path.stem.replace('PRSA_Data_', '')}-{var}", ts, v))
    return out


def _iso(text: str, tz_s: int) -> float:
    d, t = text[:19].split("T")
    y, m, dd = (int(p) for p in d.split("-"))
    hh, mi, ss = (int(p) for p in t.split(":"))
    return float(calendar.timegm((y, m, dd, hh, mi, ss)) - tz_s)


def _aarhus_backgrounds(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    base = root / "aarhus_citypulse"
    out = []
    with open(base / "trafficData158324.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["TIMESTAMP"])
    ts = np.array([_iso(r["TIMESTAMP"], 7200) for r in rows])
    for col in ("avgSpeed", "vehicleCount"):
        out.append((f"aarhus-traffic-{col}", ts, np.array([float(r[col]) for r in rows])))
    for name in ("tempm", "hum", "pressurem", "wspdm"):
        with open(base / f"{name}.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get(name) not in (None, "")]
        pairs = sorted((_iso(r["TIMESTAMP"], 7200), float(r[name])) for r in rows)
        a = np.array(pairs)
        out.append((f"aarhus-{name}", a[:, 0], a[:, 1]))
    return out


def _hangzhou_backgrounds(root: Path, stations: list[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    want = set(stations)
    flows: dict[int, list[tuple[str, int, float]]] = {s: [] for s in stations}
    with open(root / "hangzhou_metro_flow_2019" / "hangzhou_metro_station_flow_long.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            sid = int(r["station_id"])
            if sid in want:
                flows[sid].append((r["date"], int(r["interval_index"]), float(r["passenger_count"])))
    out = []
    for sid in stations:
        rows = sorted(flows[sid])
        ts = np.array([_local(*(int(p) for p in d.split("-")), 5, 30) + 600.0 * i for d, i, _ in rows])
        out.append((f"hangzhou-station{sid}", ts, np.array([c for _, _, c in rows])))
    return out


def day_scale(ts: np.ndarray, v: np.ndarray) -> float:
    """Robust scale of the change from one day to the next (MAD of v(t) - v(t - 24 h)), never 0."""
    ok = np.isfinite(v)
    t, x = ts[ok], v[ok]
    j = np.searchsorted(t, t - 86400.0)
    near = (j < len(t)) & (np.abs(t[np.minimum(j, len(t) - 1)] - (t - 86400.0)) < 1800.0)
    d = x[near] - x[j[near]]
    if len(d) < 20:
        d = np.diff(x)
    mad = float(np.median(np.abs(d - np.median(d)))) * 1.4826 if len(d) else 0.0
    return mad if mad > 0 else max(float(np.std(x)), 1e-3)


def inject(ts: np.ndarray, v: np.ndarray, shape: str, at: int, k: float,
           rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
    """The series with one anomaly of `shape` and strength `k` (in day scales) from index `at`."""
    v = v.copy()
    n = len(v)
    sd = day_scale(ts, v)
    step = float(np.median(np.diff(ts)))
    per_day = max(1, int(round(86400.0 / step)))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    end = at
    if shape == "spike":
        v[at] += k * sd * 1.5
    elif shape == "dip":
        v[at] -= k * sd * 1.5
    elif shape == "level_shift":
        end = min(n - 1, at + int(rng.integers(per_day, 4 * per_day)))
        v[at:end + 1] += sign * k * sd
    elif shape == "stuck":
        end = min(n - 1, at + int(rng.integers(max(6, per_day // 4), max(7, per_day))))
        v[at:end + 1] = v[at]
    elif shape == "noise":
        end = min(n - 1, at + int(rng.integers(max(6, per_day // 4), per_day)))
        v[at:end + 1] += rng.normal(0.0, 0.5 * k * sd, end + 1 - at)
    elif shape == "drift":
        end = min(n - 1, at + int(rng.integers(per_day, 3 * per_day)))
        ramp = np.linspace(0.0, sign * 1.5 * k * sd, end + 1 - at)
        v[at:end + 1] += ramp
        v[end + 1:] += ramp[-1]
    elif shape == "pattern_loss":
        # one day where the usual daily swing does not happen: the level stays at the day's mean
        end = min(n - 1, at + per_day)
        seg = v[at:end + 1]
        mean = np.nanmean(seg) if np.isfinite(seg).any() else 0.0
        v[at:end + 1] = mean + (seg - mean) * max(0.0, 1.0 - k / 4.0)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    if shape in ("spike", "dip") and not math.isfinite(v[at]):
        v[at] = k * sd
    return v, (float(ts[at]), float(ts[end]))


def _daily(name: str) -> bool:
    """Backgrounds with a strong daily cycle, where losing it for a day is an anomaly at all."""
    return any(k in name for k in ("TEMP", "O3", "hangzhou", "traffic", "tempm"))


def injected(root: Path, seed: int = 2026) -> list[Series]:
    """The set (see the module docstring); even-numbered series tune, odd ones are held out."""
    rng = np.random.default_rng(seed)
    bgs = _beijing_backgrounds(root, rng, 28) + _aarhus_backgrounds(root) + _hangzhou_backgrounds(root, [3, 9, 15, 27, 33, 41, 52, 64])
    out = []
    for k, (name, ts, v) in enumerate(bgs):
        n_anom = int(rng.choice([0, 1, 1, 2, 2, 3]))
        n = len(ts)
        places = np.sort(rng.choice(np.arange(int(0.2 * n), int(0.95 * n)), size=n_anom, replace=False)) if n_anom else []
        labels, kinds = [], []
        last_end = -1
        for at in places:
            at = int(at)
            if at <= last_end + 10:
                continue
            shapes = SHAPES if _daily(name) else tuple(x for x in SHAPES if x != "pattern_loss")
            shape = str(rng.choice(shapes))
            strength = float(rng.uniform(1.5, 8.0))
            v, (a, b) = inject(ts, v, shape, at, strength, rng)
            last_end = int(np.searchsorted(ts, b))
            labels.append((a, b))
            kinds.append(shape)
        out.append(Series("injected", name, ts, v, labels, kinds, "tune" if k % 2 == 0 else "heldout"))
    return out


def _artificial_clean(name: str, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(ts)
    ph = 2 * math.pi * ((ts % 86400.0) / 86400.0)
    shapes = {
        "daily_no_noise": lambda: 50 + 20 * np.sin(ph),
        "daily_small_noise": lambda: 50 + 20 * np.sin(ph) + rng.normal(0, 1, n),
        "square_wave": lambda: np.where(np.sin(ph) > 0, 80.0, 20.0),
        "flatline": lambda: np.full(n, 42.0),
        "noisy": lambda: 50 + rng.normal(0, 10, n),
        "counts": lambda: rng.poisson(3, n).astype(float),
        "heavy_tail": lambda: 20 + 3 * rng.standard_t(3, n),
        "lb_spikes": lambda: np.where(rng.random(n) < 0.02, 100.0, 5.0) + rng.normal(0, 0.5, n),
        "cpu_levels": lambda: np.repeat(rng.choice([10.0, 10.0, 10.0, 30.0, 60.0], n // 50 + 1), 50)[:n]
        + rng.normal(0, 0.3, n),
    }
    return shapes[name]()


ARTIFICIAL = ("daily_no_noise", "daily_small_noise", "square_wave", "flatline", "noisy", "counts", "heavy_tail",
              "lb_spikes", "cpu_levels")


def artificial(seed: int = 7, step_s: float = 300.0, days: int = 14) -> list[Series]:
    """Artificial series of the shapes real monitoring data has (noise-free cycles, square waves,
    flat lines, counts, heavy tails, recurring spikes, a CPU switching levels), each once clean
    (any detection is a false alarm) and once with an anomaly that breaks its own pattern: a
    day's cycle jumping up or going flat, spikes growing denser or taller, a level never seen.
    Needs no data files."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / step_s)
    ts = _local(2024, 5, 6) + step_s * np.arange(n)
    per_day = int(86400 / step_s)
    out = []
    for k, name in enumerate(ARTIFICIAL):
        out.append(Series("artificial", f"{name}-clean", ts, _artificial_clean(name, ts, rng), [], [],
                          "tune" if k % 2 == 0 else "heldout"))
        v = _artificial_clean(name, ts, rng)
        at = int(rng.integers(int(0.55 * n), int(0.8 * n)))
        end = at + per_day // 2
        if name in ("daily_no_noise", "daily_small_noise", "square_wave"):
            v[at:end] = v[at:end] * 1.5 if k % 2 else np.mean(v[at:end])  # a jump up / a flat stretch
            kind = "pattern"
        elif name == "lb_spikes":
            v[at:end] = np.where(rng.random(end - at) < 0.2, 100.0, v[at:end])  # ten times denser
            kind = "spike_density"
        elif name == "cpu_levels":
            v[at:end] = 90.0 + rng.normal(0, 0.3, end - at)  # a level it never ran at
            kind = "level_shift"
        elif name == "flatline":
            v[at:] = 47.0
            end = n - 1
            kind = "level_shift"
        else:
            sd = float(np.std(v[:at]))
            v[at:at + 3] += 6 * sd
            end = at + 2
            kind = "spike"
        out.append(Series("artificial", f"{name}-anomaly", ts, v, [(float(ts[at]), float(ts[end]))], [kind],
                          "heldout" if k % 2 == 0 else "tune"))
    return out
