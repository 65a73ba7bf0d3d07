"""Hot spots: a burst of one kind of call in one place, judged against that place's own baseline.

For each (place, category) the detector keeps the calls of the last `window_s` and a long-run count.
The place's rate gets an empirical-Bayes Gamma prior from the city-wide rate of that category per
place (so a place seen once is not judged by one call), and it is shaped by the category's hour-of-day
and weekday profile (a Monday-morning surge of traffic calls is normal, the same count at 3 a.m. is
not). Calls join the baseline only once they leave the window. The count in the window is then compared
with the negative-binomial predictive distribution;
a tail probability below `p_alert` with at least `min_count` calls raises (or grows) a burst. A place
is a grid cell, or any key the caller chooses (a district, a housing estate's name).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np
from scipy.special import betainc


@dataclass
class Burst:
    """A raised hot spot; re-reported with the same id while it keeps growing."""

    burst_id: str
    place: str
    category: str
    first_ts: float
    last_ts: float
    count: int  # calls in the window at the last report
    expected: float
    p_value: float
    call_ids: list[str] = field(default_factory=list)
    baseline_rate_per_day: float = 0.0


def nb_tail(x: int, r: float, p: float) -> float:
    """P(X >= x) for X ~ NegBin(r, p) counting failures before the r-th success (p = success prob)."""
    if x <= 0:
        return 1.0
    # P(X <= x-1) = I_p(r, x); so P(X >= x) = 1 - I_p(r, x) = I_{1-p}(x, r).
    return float(betainc(x, r, 1.0 - p))


class _Profile:
    """Hour-of-day and weekday shape of one category's calls, as rate factors with mean 1.

    Each slot's rate is its count over the time that slot has really been observed (after three days
    Monday has not been seen yet: it must not look like a slot where calls never happen), shrunk
    towards the overall rate by `smoothing` slot-days of pseudo-exposure.
    """

    def __init__(self, smoothing: float) -> None:
        self.hour = np.zeros(24)
        self.wday = np.zeros(7)
        self.n = 0
        self.smoothing = smoothing

    def add(self, hour: int, wday: int) -> None:
        self.hour[hour] += 1
        self.wday[wday] += 1
        self.n += 1

    def factor(self, hour: int, wday: int, t0: float, ts: float, offset_s: float) -> float:
        elapsed_h = max((ts - t0) / 3600.0, 1.0)
        if self.n == 0:
            return 1.0
        start_h = int(((t0 + offset_s) // 3600) % 24)
        full_days, rest = divmod(int(elapsed_h), 24)
        exp_h = full_days + (((hour - start_h) % 24) < rest)  # times this hour of day has passed
        start_d = int((math.floor((t0 + offset_s) / 86400.0) + 3) % 7)
        days = elapsed_h / 24.0
        full_weeks, rest_d = divmod(int(days), 7)
        exp_d = full_weeks + (((wday - start_d) % 7) < rest_d)
        per_day = self.n / max(days, 1.0 / 24)  # calls per day, all slots together
        k = self.smoothing
        rate_h = (self.hour[hour] + k * per_day / 24.0) / (exp_h + k)
        rate_d = (self.wday[wday] + k * per_day) / (exp_d + k)
        f_h = rate_h / (per_day / 24.0)
        f_d = rate_d / per_day
        return float(f_h * f_d)


class HotspotDetector:
    """Streaming count-burst detector per (place, category); times are event times passed in."""

    def __init__(self, window_s: float = 3600.0, p_alert: float = 1e-5, min_count: int = 3,
                 prior_strength_days: float = 7.0, min_prior_days: float = 0.25, profile_smoothing: float = 3.0, cooldown_s: float | None = None,
                 utc_offset_h: float = 8.0, warmup_s: float = 0.0) -> None:
        self.window_s = window_s
        self.p_alert = p_alert
        self.min_count = min_count
        self.prior_days = prior_strength_days
        self.utc_offset_s = utc_offset_h * 3600.0
        self.cooldown_s = window_s if cooldown_s is None else cooldown_s
        self.warmup_s = warmup_s
        self._recent: dict[tuple[str, str], deque[tuple[float, str]]] = defaultdict(deque)
        self._total: dict[tuple[str, str], int] = defaultdict(int)
        self._places_by_cat: dict[str, set[str]] = defaultdict(set)
        self._cat_total: dict[str, int] = defaultdict(int)
        self._cat_sq: dict[str, int] = defaultdict(int)  # sum over places of count^2 (prior variance)
        self.min_prior_days = min_prior_days
        self._profiles: dict[str, _Profile] = defaultdict(lambda: _Profile(profile_smoothing))
        self._open: dict[tuple[str, str], Burst] = {}
        self.t0: float | None = None

    def _clock(self, ts: float) -> tuple[int, int]:
        local = ts + self.utc_offset_s
        days = math.floor(local / 86400.0)
        return int((local - days * 86400.0) // 3600) % 24, int((days + 3) % 7)  # 1970-01-01 was a Thursday

    def baseline(self, place: str, category: str, ts: float) -> tuple[float, float, float]:
        """(expected calls in a window at ts, Gamma shape, Gamma rate per window) for this place.

        The Gamma prior over places' daily rates is fitted by moments across the places that have
        called about this category (mean m, variance v beyond Poisson noise): its strength m / v days
        is small when places differ a lot, so a busy junction soon stands on its own counts.
        """
        elapsed_days = max((ts - (self.t0 if self.t0 is not None else ts)) / 86400.0, 1.0 / 24)
        places = max(len(self._places_by_cat[category]), 1)
        total, sq = self._cat_total[category], self._cat_sq[category]
        mean = total / places / elapsed_days
        var = sq / places / elapsed_days**2 - mean**2 - mean / elapsed_days
        mean = max(mean, 0.1 / elapsed_days / places)  # a category never seen: about nothing expected
        strength = self.prior_days if var <= 0 else min(self.prior_days, max(mean / var, self.min_prior_days))
        window_days = self.window_s / 86400.0
        shape = strength * mean + self._total[(place, category)]
        rate_days = strength + elapsed_days  # Gamma rate parameter in days
        hour, wday = self._clock(ts)
        scale = window_days * self._profiles[category].factor(
            hour, wday, self.t0 if self.t0 is not None else ts, ts, self.utc_offset_s)
        return shape / rate_days * scale, shape, rate_days / scale

    def observe(self, place: str, category: str, ts: float, call_id: str) -> Burst | None:
        """Count one call; returns the burst when this call raises or grows one, else None."""
        if self.t0 is None or ts < self.t0:
            self.t0 = ts
        key = (place, category)
        q = self._recent[key]
        while q and q[0][0] < ts - self.window_s:
            self._record(place, category, q.popleft()[0])
        expected, shape, beta = self.baseline(place, category, ts)
        x = len(q) + 1
        # Posterior predictive for the window count: NegBin(r=shape, p=beta/(beta+1)).
        p_value = nb_tail(x, shape, beta / (beta + 1.0))
        q.append((ts, call_id))
        if x < self.min_count or p_value > self.p_alert or ts - self.t0 < self.warmup_s:
            return None
        burst = self._open.get(key)
        if burst is None or ts - burst.last_ts > self.cooldown_s:
            burst = Burst(f"hs-{place}-{category}-{int(ts)}", place, category, ts, ts, x, expected, p_value,
                          baseline_rate_per_day=expected * 86400.0 / self.window_s)
            self._open[key] = burst
        burst.last_ts, burst.count, burst.expected = ts, max(burst.count, x), expected
        burst.p_value = min(burst.p_value, p_value)
        burst.call_ids = list(dict.fromkeys([*burst.call_ids, *(cid for _, cid in q)]))
        return burst

    def _record(self, place: str, category: str, ts: float) -> None:
        # A call joins the baseline only when it leaves the window: a burst never explains itself
        # away (nor, for a category never seen before, sets its own prior and daily profile).
        n = self._total[(place, category)]
        self._total[(place, category)] = n + 1
        self._cat_sq[category] += 2 * n + 1
        self._cat_total[category] += 1
        self._places_by_cat[category].add(place)
        hour, wday = self._clock(ts)
        self._profiles[category].add(hour, wday)

    def expire(self, now: float) -> None:
        """Drop windows and finished bursts that can no longer matter (bounded memory)."""
        for key in [k for k, q in self._recent.items() if not q or q[-1][0] < now - self.window_s]:
            for ts, _ in self._recent.pop(key):
                self._record(key[0], key[1], ts)
        for key in [k for k, b in self._open.items() if b.last_ts < now - self.cooldown_s - self.window_s]:
            del self._open[key]
