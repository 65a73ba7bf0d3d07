"""The single-series detector: every anomaly kind is caught, clean seasonal data stays quiet, bad input never raises."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors import make_series_detector, synthetic
from detectors.core import DEFAULT_THRESHOLD


def _scores(s: synthetic.Synthetic) -> np.ndarray:
    det = make_series_detector()
    return np.array([det.score_one(t, v) for t, v in zip(s.ts.tolist(), s.values.tolist())])


# how long after the onset a detection still counts (a drift needs time to become visible)
HORIZON = {"drift": 420, "variance": 60, "stuck": 20, "level_shift": 10}


@pytest.mark.parametrize("kind", [k for k in synthetic.ANOMALY_KINDS if k != "none"])
@pytest.mark.parametrize("seed", [1, 2])
def test_each_anomaly_kind_is_detected_and_typed(kind: str, seed: int) -> None:
    s = synthetic.make(kind, seed=seed, days=21)
    det = make_series_detector()
    hits = []
    for i, (t, v) in enumerate(zip(s.ts.tolist(), s.values.tolist())):
        sc = det.score_one(t, v)
        if s.start <= i < s.start + HORIZON.get(kind, 3) and sc >= DEFAULT_THRESHOLD:
            hits.append(det.explain()["anomaly_type"])
    assert hits, f"{kind} not detected"
    expected = {"spike": {"spike"}, "dip": {"dip"}, "level_shift": {"level_shift", "spike"},
                "variance": {"variance", "spike", "dip", "level_shift"}, "stuck": {"stuck"},
                "drift": {"drift", "level_shift"}, "gap": {"gap"}}[kind]
    assert hits[0] in expected, hits


@pytest.mark.parametrize("episodes", [False, True])
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_clean_seasonal_series_raises_no_alert(seed: int, episodes: bool) -> None:
    s = synthetic.make("none", seed=seed, days=21)
    det = make_series_detector(episodes=episodes)
    assert max(det.score_one(t, v) for t, v in zip(s.ts.tolist(), s.values.tolist())) < DEFAULT_THRESHOLD


def _haze_days(seed: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """PM2.5 every 2 minutes (40 µg/m³, a daily swing, 8 % noise) with a 5-hour haze on day 6 (+250 %)
    and a weaker one at the same hour on day 7 (+120 %): what a district sees on two bad days."""
    rng = np.random.default_rng(seed)
    ts = 1_790_000_000.0 + 120.0 * np.arange(9 * 720)
    v = 40.0 * (1 + 0.15 * np.cos(2 * np.pi * (((ts / 3600) + 8) % 24 - 2) / 24))
    onsets = [ts[0] + 6.05 * 86400, ts[0] + 7.05 * 86400]
    for at, rise in zip(onsets, (2.5, 1.2)):
        ramp = np.clip((ts - at) / 3600, 0, 1) * np.clip(1 - (ts - at - 5 * 3600) / 1800, 0, 1)
        v = v * (1 + rise * ramp)
    return ts, v * (1 + 0.08 * rng.standard_normal(len(ts))), onsets


@pytest.mark.parametrize("seed", [0, 1])
def test_episode_aware_detector_sees_the_second_haze(seed: int) -> None:
    # read every 2 minutes, an hour bin learnt per reading takes the first haze for that hour's usual
    # air, and its calibration takes it for the level's usual wander: the next day's haze looks ordinary
    ts, v, (_, second) = _haze_days(seed)
    window = (ts >= second) & (ts < second + 90 * 60)
    peak = {}
    for episodes in (False, True):
        det = make_series_detector(episodes=episodes)
        sc = np.array([det.score_one(t, x) for t, x in zip(ts.tolist(), v.tolist())])
        peak[episodes] = sc[window].max()
    assert peak[True] >= 0.9, peak
    assert peak[True] > peak[False] + 0.3, peak


def test_irregular_sampling_and_missing_values_stay_quiet_but_spikes_show() -> None:
    clean = synthetic.make("none", seed=6, days=14, irregular=True, nan_frac=0.03)
    assert _scores(clean).max() < DEFAULT_THRESHOLD
    s = synthetic.make("spike", seed=6, days=14, irregular=True, nan_frac=0.03)
    sc = _scores(s)
    assert sc[s.start] >= DEFAULT_THRESHOLD


def test_warm_up_gives_no_score_and_scores_stay_in_unit_interval() -> None:
    det = make_series_detector()
    first = [det.score_one(1_700_000_000 + 600 * i, v) for i, v in enumerate([1, 500, -300, 2, 1e6])]
    assert first == [0.0] * 5


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "x", 1e308, -1e308, 0.0])
def test_bad_values_and_timestamps_never_raise(bad) -> None:
    s = synthetic.make("none", seed=7, days=3)
    det = make_series_detector()
    rng = np.random.default_rng(0)
    for i, (t, v) in enumerate(zip(s.ts.tolist(), s.values.tolist())):
        if i % 17 == 0:
            v = bad
        if i % 23 == 0:
            t = bad  # a bad timestamp is replaced by the latest good one
        if i % 29 == 0:
            t = t - rng.uniform(0, 7200) if isinstance(t, float) else t  # out of order
        sc = det.score_one(t, v)
        assert 0.0 <= sc <= 1.0
    assert isinstance(det.explain()["anomaly_type"], str)


def test_out_of_order_and_duplicate_timestamps_do_not_look_like_gaps() -> None:
    s = synthetic.make("none", seed=8, days=7)
    ts = s.ts.copy()
    swap = np.arange(200, len(ts) - 1, 50)
    ts[swap], ts[swap + 1] = ts[swap + 1].copy(), ts[swap].copy()
    ts[swap + 2] = ts[swap + 1]
    det = make_series_detector()
    sc = [det.score_one(t, v) for t, v in zip(ts.tolist(), s.values.tolist())]
    assert max(sc) < DEFAULT_THRESHOLD


def test_scores_are_calibrated_across_scales() -> None:
    """The same shape at 1000x the scale and a shifted offset gives the same scores (no per-series tuning)."""
    s = synthetic.make("spike", seed=9, days=10)
    a = _scores(s)
    b = _scores(synthetic.Synthetic(s.ts, s.values * 1000.0 + 5e4, s.kind, s.start, s.end))
    assert np.allclose(a, b, atol=0.02)


def test_a_run_of_missing_readings_is_reported_as_it_grows_not_per_reading() -> None:
    # a feed that keeps sending NaN for two days: the silence is news when it starts and when it
    # doubles, so a threshold sees a handful of alarms, not one per missing reading
    s = synthetic.make("none", seed=8, days=21)
    v = s.values.copy()
    a = int(0.8 * len(v))
    v[a:a + 288] = np.nan
    det = make_series_detector()
    sc = np.array([det.score_one(t, x) for t, x in zip(s.ts.tolist(), v.tolist())])
    high = np.nonzero(sc[a:a + 289] >= DEFAULT_THRESHOLD)[0]
    assert 1 <= len(high) <= 4, high
    assert high[0] < 12  # seen within two hours (10-minute readings)


def _run(ts: np.ndarray, v: np.ndarray) -> np.ndarray:
    det = make_series_detector()
    return np.array([det.score_one(t, x) for t, x in zip(ts.tolist(), v.tolist())])


def test_recurring_spikes_are_the_series_own_pattern_but_a_first_spike_is_news() -> None:
    # a load balancer that spikes to 100 on 2% of readings: after a while, one more spike is no news
    rng = np.random.default_rng(3)
    n = 6000
    ts = 1_700_000_000.0 + 300.0 * np.arange(n)
    spikes = rng.random(n) < 0.02
    v = np.where(spikes, 100.0, 5.0) + rng.normal(0, 0.5, n)
    sc = _run(ts, v)
    late = sc[n // 2:][spikes[n // 2:]]
    assert np.mean(late >= DEFAULT_THRESHOLD) < 0.1, np.mean(late >= DEFAULT_THRESHOLD)
    # the same series without its habit: its first spike scores in full
    quiet = 5.0 + rng.normal(0, 0.5, n)
    quiet[n // 2] = 100.0
    assert _run(ts, quiet)[n // 2] >= 0.9

