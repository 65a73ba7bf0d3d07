"""The one piece of detector math, written once and run two ways: on Python floats (one series)
and on numpy arrays (a bank of sensors), so both paths give the same scores by construction.

Model (causal, O(1) per reading, no per-series tuning):
- forecast = slow level + seasonal profile + recent deviation. The profile has hour-of-day bins
  (weekday and weekend apart, local time) read by linear interpolation between bin centres, and
  is learnt against the slow level so the fast part cannot swallow it; all of it is updated with
  winsorised residuals so a spike does not drag the model.
- residual scale = mean of a slow global and a per-bin mean absolute residual, floored by the
  value resolution (integer counters) and by a fast scale (a noisier regime is not one long alarm).
- calibration: streaming 90% / 99% quantiles of |residual/scale| fit a stretched-exponential tail
  (log10 p = -(z/q90)^k, k from the two quantiles: ~1 Laplace, ~1.5 Gaussian, <1 heavier), so
  surprise is in decades of tail probability (-log10 p) and comparable across series (as SPOT /
  peaks-over-threshold do), then checked against how often this series has actually reached that
  many decades (2/4/8/16/32-decade levels, slow moving averages): a spike the series makes every
  fiftieth reading scores at most two decades above its observed frequency. Consecutive same-side
  tail residuals add their surprises, discounted by
  the learnt chance that one tail reading follows another (trending series are not rewarded).
- other evidence, also in decades: level context (the current deseasonalised level against a
  long baseline, with its own quantiles, plus log10 of the mean excursion length: the onset of an
  episode is rarer than one high reading), drift (slow level vs baseline), variance (fast vs slow
  scale), stuck (a run of identical values, each repeat costing -log10 of how likely a repeat is
  at this resolution and this hour's usual change), gap (time since the last valid reading vs the
  usual interval and recent long silences; NaN / inf values count as missing), reported as the
  silence begins and again each time it doubles.
- states (stuck, drift, variance, level) are reported when they reach a new high, one decade above
  the last report (the bar sinks slowly), not on every reading; point evidence likewise when it
  beats the episode's last report by a decade (that bar sinks a decade per reading). The ungated
  surprise of every reading is kept as `Sr` (explain()["ongoing_score"]) for episode bookkeeping.
- score = max surprise / s_full (10 decades), clipped to [0, 1]; DEFAULT_THRESHOLD is the one
  threshold for every sensor, chosen on the tuning split of `cityops evaluate detectors`.

Divisions are always by floored positive quantities: the scalar path must never raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FIELDS = ("n", "tlast", "tmax", "dtm", "L", "sf", "ss", "B", "D", "q90", "q99", "xlast", "res",
          "acc", "krun", "zrun", "M", "racc", "glong", "rmax", "pi", "Dl", "l90", "l99", "xl", "xlm", "stail", "xmin", "pmax",
          "gmax", "e2", "e4", "e8", "e16", "e32",
          # outputs kept for explain(): expected value, deviation in sigmas, kind code, surprise,
          # the raw value, the gap ratio and the timestamp of the reading
          "f", "sig", "kind", "S", "Sr", "xv", "gap", "ts")
NF = len(FIELDS)
NSTATE = 35  # the first NSTATE fields are model state, the rest are outputs
INIT = {"n": 0.0, "tlast": 0.0, "tmax": -1e300, "dtm": 0.0, "L": 0.0, "sf": 0.0, "ss": 0.0, "B": 0.0,
        "D": 0.0, "q90": 2.3, "q99": 4.6, "xlast": 0.0, "res": 0.0, "acc": 0.0, "krun": 0.0, "zrun": 0.0, "M": 0.0, "racc": 0.0, "glong": 0.0, "rmax": 0.0, "pi": 0.1, "Dl": 0.0, "l90": 2.3, "l99": 4.6, "xl": 0.0, "xlm": 1.0, "stail": 1e9, "xmin": 1e300, "pmax": 0.0, "gmax": 0.0,
        "e2": 0.0, "e4": 0.0, "e8": 0.0, "e16": 0.0, "e32": 0.0,
        "f": math.nan, "sig": 0.0, "kind": 0.0, "S": 0.0, "Sr": 0.0, "xv": math.nan, "gap": 0.0, "ts": math.nan}
INIT_ROW = tuple(INIT[k] for k in FIELDS)
_SR = FIELDS.index("Sr")  # the last reading's ungated surprise (an output, read back as state)

DEFAULT_THRESHOLD = 0.46  # one score threshold for every sensor (chosen by `cityops evaluate detectors`)

KINDS = ("normal", "spike", "dip", "level_shift", "variance", "stuck", "drift", "gap")
K_NONE, K_SPIKE, K_DIP, K_SHIFT, K_VAR, K_STUCK, K_DRIFT, K_GAP = range(8)


@dataclass(frozen=True)
class Params:
    """Defaults chosen once on the tuning split of `cityops evaluate detectors`, for all sensors."""

    utc_offset_h: float = 8.0  # local time of the city (Guangzhou / Beijing / Hangzhou)
    bins_per_day: int = 24
    n_warm: int = 24  # readings before any score is given
    s_full: float = 10.0  # surprise (decades) that maps to score 1
    a_level: float = 0.5
    g_min: float = 0.1  # slowest seasonal-bin learning rate
    c_min: float = 3.0  # a bin is trusted after this many visits
    clip_k: float = 4.0  # residuals are winsorised at this many scales for learning
    var_clip: float = 6.0
    a_ss: float = 0.005
    a_sf: float = 0.1
    rel_floor: float = 1e-4
    abs_floor: float = 1e-9
    eta: float = 0.05  # quantile step
    k_min: float = 0.6  # tail-shape bounds
    k_max: float = 2.0
    v0: float = 2.2  # fast/slow scale ratio that starts to count as a variance change
    v_slope: float = 3.0
    a_mid: float = 0.005  # slow level
    a_base: float = 0.0003  # drift baseline
    a_dev: float = 0.0003
    d0: float = 6.0
    d_slope: float = 0.7
    n_drift: int = 150
    run_margin: float = 2.0
    a_pi: float = 0.02
    w_lvl: float = 2.0
    a_x: float = 0.05
    #: episode-aware learning (off by default; per slot in a bank, see `step`): for sensors whose
    #: events are physical episodes lasting hours (a haze, not a spike or a rush hour)
    episodes: bool = False
    x_long: float = 2.0  # an episode: a level excursion this many times its usual length...
    x_min: float = 12.0  # ...and at least this many readings (a spike's echo is no episode)...
    s_episode: float = 4.0  # ...whose last reading was this surprising (decades): clear, not a wander
    shift_memory: float = 6.0  # readings after a tail residual during which a level change is a shift
    r_sink: float = 0.003  # decades per reading
    p_sink: float = 1.0
    k_stuck: float = 5.0
    p_rep_min: float = 1e-3
    stuck_margin: float = 5.0
    a_dt: float = 0.05
    gap_ratio: float = 4.0
    gap_slope: float = 1.0
    gap_long: float = 1.5
    gap_decay: float = 0.999  # a nightly closure is still routine the next night (0.995 forgot it by then)
    gap_cap: float = 12 * 3600.0
    cal_rate: float = 0.001  # how fast the observed frequency of tail evidence is learnt
    cal_margin: float = 2.0  # decades above the observed frequency a reading may still score
    gap_again: float = 2.0  # a silence is reported again when it has lasted this many times longer

    @property
    def n_bins(self) -> int:
        return 2 * self.bins_per_day


def bin_of(xp: Any, t: Any, p: Params) -> tuple[Any, Any, Any]:
    """The two seasonal bins around a timestamp (as floats) and the weight of the second.

    Bins are hour-of-day slots (+ bins_per_day on weekends); the profile is read by linear
    interpolation between bin centres so a steep morning ramp is not a staircase."""
    tl = t + p.utc_offset_h * 3600.0
    day = tl // 86400.0
    pos = (tl - day * 86400.0) / (86400.0 / p.bins_per_day) - 0.5
    lo = pos // 1.0
    u = xp.minimum(xp.maximum(pos - lo, 0.0), 1.0)
    nb = float(p.bins_per_day)
    b0 = xp.where(lo < 0.0, nb - 1.0, xp.minimum(lo, nb - 1.0))
    b1 = xp.where(lo + 1.0 >= nb, 0.0, xp.maximum(lo + 1.0, 0.0))
    weekend = ((day + 3.0) % 7.0) >= 5.0  # 1970-01-01 was a Thursday (weekday 3)
    off = xp.where(weekend, nb, 0.0)
    return b0 + off, b1 + off, u


class ScalarOps:
    """The few array functions the core needs, on Python floats (both branches are evaluated)."""

    isfinite = staticmethod(math.isfinite)
    maximum = staticmethod(max)
    minimum = staticmethod(min)
    abs = staticmethod(abs)
    log10 = staticmethod(math.log10)

    @staticmethod
    def where(c: bool, a: float, b: float) -> float:
        return a if c else b


#: decades of point evidence whose observed frequency each series tracks (state fields e2 .. e32)
EVIDENCE_LEVELS = (2.0, 4.0, 8.0, 16.0, 32.0)


def _observed_cap(xp: Any, v: Any, freqs: tuple, margin: float) -> Any:
    """Evidence `v` (decades) capped at `margin` decades above how often this series has reached
    the highest of `EVIDENCE_LEVELS` that `v` reaches (`freqs`, one per level); levels never
    reached cap nothing."""
    e = 0.0
    for level, freq in zip(EVIDENCE_LEVELS, freqs):  # ascending: the highest level reached wins
        e = xp.where(v >= level, freq, e)
    return xp.where(e > 0.0, xp.minimum(v, margin - xp.log10(xp.maximum(e, 1e-12))), v)


def step(xp: Any, p: Params, t: Any, x: Any, s: Any, S0: Any, S1: Any, V0: Any, V1: Any, C0: Any, C1: Any,
         u: Any, episodes: Any = False) -> tuple:
    """One reading per slot: returns (new fields in FIELDS order, (S0, S1, V0, V1, C0, C1), score).

    S/V/C are the seasonal mean, scale and visit count of the two bins around the reading, u the
    weight of the second (see bin_of); `episodes` is `Params.episodes` (one flag per slot in a bank).

    `t` must already be finite (callers replace a bad timestamp by the slot's latest one);
    `x` may be NaN/inf (missing).
    """
    (n, tlast, tmax, dtm, L, sf, ss, B, D, q90, q99, xlast, res, acc, krun, zrun, M, racc, glong, rmax, pi, Dl, l90, l99, xl, xlm, stail, xmin, pmax, gmax, e2, e4, e8, e16, e32) = s[:NSTATE]
    w, mx, mn, ab = xp.where, xp.maximum, xp.minimum, xp.abs
    valid = xp.isfinite(x)
    u0 = 1.0 - u
    Sb = u0 * S0 + u * S1
    Vb = u0 * V0 + u * V1
    Cb = u0 * C0 + u * C1
    x = w(valid, x, 0.0)
    has = n > 0.5
    warm = n >= p.n_warm
    learn = valid & has

    # -- sampling: gap since the last valid reading, against the usual interval
    dt = w(has, t - tlast, 0.0)
    known_dt = dtm > 0.0
    gap = w(known_dt, dt / mx(dtm, 1e-9), 0.0)
    # a silence as long as recent ones (a metro station closed at night) is not news: the bar is
    # the larger of a few usual intervals and a decaying maximum of past silences
    bar = mx(p.gap_ratio, p.gap_long * glong / mx(dtm, 1e-9))
    s_gap = w(warm & known_dt, mx(gap - bar, 0.0) * p.gap_slope, 0.0)
    # a silence is news when it starts and each time it doubles until it has scored in full, not on
    # every missing reading (a run of NaN readings would otherwise be one alarm per reading); gmax
    # is the gap ratio last reported in this silence
    g_emit = (s_gap > 0.0) & (gap >= p.gap_again * gmax) & ((gmax - bar) * p.gap_slope < p.s_full)
    gmax_n = w(g_emit, gap, w(valid, 0.0, gmax))
    s_gap_raw = s_gap
    s_gap = w(g_emit, s_gap, 0.0)
    # only closures up to gap_cap (a night) are learnt as routine: one long outage must not hide the next
    glong_n = w(learn, mx(mn(dt, p.gap_cap), glong * p.gap_decay), glong)
    dtm_n = w(learn & (dt > 0.0), w(known_dt, dtm + p.a_dt * (mn(dt, 4.0 * dtm) - dtm), dt), dtm)

    # -- forecast residual and its calibrated surprise
    f = w(has, M + Sb + L, x)
    e = w(learn, x - f, 0.0)
    ae = ab(e)
    floor = 0.5 * res + p.rel_floor * ab(f) + p.abs_floor
    base = mx(0.5 * (ss + w(Cb >= p.c_min, Vb, ss)), floor)
    scale = mx(base, sf)
    z = e / scale
    az = ab(z)
    # tail log10 p = -(z/q90)^k through both quantiles: k=1 exponential, ~1.5 Gaussian, <1 heavier
    kt = mn(mx(0.30103 / xp.log10(mx(q99 / mx(q90, 0.1), 1.05)), p.k_min), p.k_max)
    s_pt = w(az > q90, (mx(az, 1e-9) / mx(q90, 0.1)) ** kt, az / mx(q90, 0.1))
    s_pt = w(learn, s_pt * mn((Cb + 1.0) / (p.c_min + 1.0), 1.0), 0.0)
    # consecutive same-side tail residuals multiply their probabilities, so surprises add up and a
    # level shift or a surge is seen early even when each reading alone is borderline; a follow-up
    # exceedance is only as surprising as this series makes it (pi = learnt chance of one tail
    # reading following another on the same side: 0.1 if independent, more for trending series)
    sgn = w(z > 0.0, 1.0, -1.0)
    tail = az > q90
    cont = learn & (racc * z > 0.0)
    racc_n = w(learn, w(tail, w(cont, racc + sgn * (s_pt - 1.0 - xp.log10(mx(pi, 0.01))), sgn * s_pt), 0.0), racc)
    pi_n = w(learn & (racc != 0.0), pi + p.a_pi * (w(cont & tail, 1.0, 0.0) - pi), pi)
    s_run = mx(ab(racc_n) - p.run_margin, 0.0)

    # -- variance change: fast scale against the slow one
    s_var = mx(sf / base - p.v0, 0.0) * p.v_slope

    # -- stuck: identical values, each repeat as unlikely as the resolution is fine vs the scale
    # resting at the floor (no rain, a closed station, a dry drain) is not being stuck
    same = learn & (x == xlast) & (x > xmin)
    # the usual change at this hour decides how odd a repeat is (car parks sit still at night)
    p_rep = mn(mx(0.5 * res / mx(Vb, floor), p.p_rep_min), 0.9)
    acc_n = w(same, acc - w(Cb >= p.c_min, xp.log10(p_rep), 0.0), w(valid, 0.0, acc))
    krun_n = w(same, krun + 1.0, w(valid, 0.0, krun))
    s_stuck = w(krun_n >= p.k_stuck, mx(acc_n - p.stuck_margin, 0.0), 0.0)
    d = ab(x - xlast)
    res_n = w(learn & (d > 0.0), w(res > 0.0, mn(res, d), d), res)

    # -- an episode (with `episodes`): the level has been out of its usual range far longer than its
    #    excursions last, clearly, but not so long that it is the new normal (n_drift readings). The
    #    slow level, the season and the level's calibration do not learn from it: at 2-minute
    #    readings the hour bins took five hours of haze for that hour's usual air within minutes, the
    #    slow level stayed inflated for a day after, and l90 rose ~7 sigmas, so the next day's haze
    #    looked ordinary
    #    (`episodes` is False when no slot of the call uses it: then none of this costs a thing)
    aware = episodes is not False
    if aware:
        x_bar = mx(p.x_long * xlm, p.x_min)
        in_episode = ((w(episodes, 1.0, 0.0) > 0.5) & (n >= p.n_drift) & (xl > x_bar) & (xl <= p.n_drift)
                      & (s[_SR] >= p.s_episode))
        usual = w(in_episode, 0.0, 1.0) > 0.5
    else:
        usual = True
    # -- learning (valid readings only), winsorised so outliers do not teach the model:
    #    M slow level, Sb season relative to M, L the recent deviation from both (persistence)
    lim = w(warm, p.clip_k * scale, 1e300)
    xc = f + mx(mn(e, lim), -lim)
    g0 = mx(1.0 / (C0 + 1.0), p.g_min) * u0
    g1 = mx(1.0 / (C1 + 1.0), p.g_min) * u
    err = xc - M - Sb
    S0_n = w(learn & usual, S0 + g0 * err, S0)
    S1_n = w(learn & usual, S1 + g1 * err, S1)
    Sb_n = u0 * S0_n + u * S1_n
    M_n = w(valid & usual, w(has, M + mx(1.0 / (n + 1.0), p.a_mid) * (xc - Sb - M), x), M)
    L_n = w(learn, L + p.a_level * (xc - M_n - Sb_n - L), w(valid, 0.0, L))
    vlim = w(warm, p.var_clip * base, 1e300)
    aec = mn(ae, vlim)
    V0_n = w(learn, V0 + g0 * (aec - V0), V0)
    V1_n = w(learn, V1 + g1 * (aec - V1), V1)
    C0_n = w(learn, C0 + u0, C0)
    C1_n = w(learn, C1 + u, C1)
    ss_n = w(learn, ss + mx(1.0 / mx(n, 1.0), p.a_ss) * (aec - ss), ss)
    sf_n = w(learn, w(n > 1.5, sf + p.a_sf * (aec - sf), aec), sf)

    # -- drift: the slow level against a slower baseline, in units of its usual wander
    zd = ab(M_n - B) / mx(D, floor)
    s_drift = w(n >= p.n_drift, mx(zd - p.d0, 0.0) * p.d_slope, 0.0)
    # -- context: the current deseasonalised level (slow + recent) against the long-run baseline,
    #    calibrated by its own streaming quantiles (a haze day is far above any usual day)
    lv = ab(M_n + L_n - B)
    zl = lv / mx(Dl, floor)
    # excursions of the level last many readings, so a new one is rarer than a tail reading by
    # about their mean length (xlm, learnt): that is the surprise of an onset
    above = zl > l90
    xl_n = w(learn, w(above, xl + 1.0, 0.0), xl)
    xlm_n = w(learn & (xl > 0.0) & (zl <= l90), xlm + p.a_x * (xl - xlm), xlm)
    s_lvl = w((n >= p.n_drift) & above, 1.0 + (zl - l90) / mx(l99 - l90, 0.5) + xp.log10(mx(xlm, 1.0)), 0.0)
    upd_l = learn & (n >= p.n_drift) & usual
    l90_n = w(upd_l, l90 + p.eta * w(zl > l90, 0.9, -0.1), l90)
    l99_n = w(upd_l, mx(l99 + p.eta * w(zl > l99, 0.99, -0.01), l90_n + 0.5), l99)
    Dl_n = w(learn & usual, Dl + mx(1.0 / mx(n, 1.0), p.a_dev) * (lv - Dl), Dl)
    B_n = w(valid, B + mx(1.0 / (n + 1.0), p.a_base) * (M_n - B), B)
    dd = ab(M_n - B_n)
    D_n = w(learn, D + mx(1.0 / mx(n, 1.0), p.a_dev) * (mn(dd, w(n > 50.0, 3.0 * D, 1e300)) - D), D)

    # -- streaming quantiles of |z| (the calibration)
    upd_q = learn & warm
    q90_n = w(upd_q, q90 + p.eta * w(az > q90, 0.9, -0.1), q90)
    q99_n = w(upd_q, mx(q99 + p.eta * w(az > q99, 0.99, -0.01), q90_n + 0.5), q99)
    exc = az > q99
    stail_n = w(learn, w(exc, 0.0, mn(stail + 1.0, 1e9)), stail)  # readings since the last tail residual
    zrun_n = w(valid, w(exc, w(z > 0.0, mx(zrun, 0.0) + 1.0, mn(zrun, 0.0) - 1.0), 0.0), zrun)

    # -- combine: the strongest piece of evidence, in decades of tail probability
    s_pt = mx(s_pt, s_run)
    s_var = w(learn, s_var, 0.0)
    s_drift = w(learn, mx(s_drift, s_lvl * p.w_lvl), 0.0)
    # empirical check of the tail model: eL is how often (a slow moving average) point evidence has
    # reached L decades in this series (states such as drift are left out: a long episode is one
    # event, not many readings). Where the model says 1e-16 but such readings come every
    # fiftieth time (a load balancer's spikes, a CPU switching between levels, heavy-tailed counts),
    # a reading is only as surprising as that observed frequency, plus a margin
    a_e = w(learn & warm, p.cal_rate, 0.0)
    freqs = (e2, e4, e8, e16, e32)
    e2_n, e4_n, e8_n, e16_n, e32_n = (e + a_e * ((s_pt >= level) - e) for level, e in zip(EVIDENCE_LEVELS, freqs))
    s_pt = _observed_cap(xp, s_pt, freqs, p.cal_margin)
    # stuck, drift and variance are states, not events: report them when they reach a new high (one
    # more decade than last reported; stuck only until it is certain); the bar sinks slowly so a
    # lasting condition is re-reported now and then, not on every reading
    s_stuck = w(valid & (acc - p.stuck_margin < p.s_full), s_stuck, 0.0)
    slow = mx(mx(s_drift, s_var), s_stuck)
    # how anomalous the reading is, before the gates (the stage keeps an episode open with it)
    s_raw = w(warm, mx(mx(s_pt, slow), s_gap_raw), 0.0)
    emit = slow >= rmax + 1.0
    # ...and when the level comes back from an episode the bar drops to what is left, so the next
    # episode is news from its first decades (a bar of 27 decades, sinking 0.003 a reading, hid the
    # next day's haze)
    rmax_n = mx(rmax - p.r_sink, 0.0)
    if aware:
        rmax_n = w((w(episodes, 1.0, 0.0) > 0.5) & learn & (xl > x_bar) & (xl_n <= 0.0), slow, rmax_n)
    rmax_n = w(emit, slow, rmax_n)
    s_drift = w(emit, s_drift, 0.0)
    s_var = w(emit, s_var, 0.0)
    s_stuck = w(emit, s_stuck, 0.0)
    # point evidence is news when it beats what this episode already reported by a decade (the bar
    # sinks p_sink per reading): a surge is reported as it starts and as it worsens, not per reading
    emit_pt = s_pt >= pmax + 1.0
    pmax_n = w(learn, w(emit_pt, s_pt, mx(pmax - p.p_sink, 0.0)), pmax)
    s_pt = w(emit_pt, s_pt, 0.0)
    S = w(warm, mx(mx(mx(s_pt, s_var), mx(s_drift, s_stuck)), s_gap), 0.0)
    k_pt = w(ab(zrun_n) >= 3.0, float(K_SHIFT), w(z > 0.0, float(K_SPIKE), float(K_DIP)))
    kind = w(S < 1.0, float(K_NONE),
             w(s_gap >= S, float(K_GAP),
               w(s_stuck >= S, float(K_STUCK),
                 w(s_pt >= S, k_pt,
                   w((s_var >= S) | (sf > p.v0 * base), float(K_VAR),  # noisier than usual: variance
                     # the level is far from usual: a jump if this very reading is in the tail,
                     # a shift soon after tail readings, otherwise it crept there (drift)
                     w(az > q99, k_pt, w(stail_n <= p.shift_memory, float(K_SHIFT), float(K_DRIFT))))))))
    score = mn(S / p.s_full, 1.0)

    new = (w(valid, n + 1.0, n), w(valid, w(has, mx(tlast, t), t), tlast), mx(tmax, t), dtm_n, L_n,
           sf_n, ss_n, B_n, D_n, q90_n, q99_n, w(valid, x, xlast), res_n, acc_n, krun_n, zrun_n, M_n, racc_n,
           glong_n, rmax_n, pi_n, Dl_n, l90_n, l99_n, xl_n, xlm_n,
           stail_n, w(valid, mn(xmin, x), xmin), pmax_n, gmax_n, e2_n, e4_n, e8_n, e16_n, e32_n, f, z * 0.8, kind, S, s_raw, w(valid, x, math.nan), gap, t)
    return new, (S0_n, S1_n, V0_n, V1_n, C0_n, C1_n), score
