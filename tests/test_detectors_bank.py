"""The vectorised bank gives the same scores as one series object per sensor, in any batching."""

from __future__ import annotations

import math

import numpy as np

from detectors import DetectorBank, make_series_detector, synthetic


def _streams(n_sensors: int, days: int = 4) -> list[synthetic.Synthetic]:
    kinds = [k for k in synthetic.ANOMALY_KINDS]
    return [synthetic.make(kinds[i % len(kinds)], seed=i, days=days, irregular=i % 3 == 0, nan_frac=0.02 * (i % 2))
            for i in range(n_sensors)]


def _interleave(streams: list[synthetic.Synthetic], rng: np.random.Generator) -> list[tuple[int, float, float]]:
    """All readings in a random global order that keeps each sensor's own order, plus some junk."""
    queues = [list(zip(s.ts.tolist(), s.values.tolist())) for s in streams]
    pos = [0] * len(queues)
    out = []
    live = [i for i in range(len(queues)) if queues[i]]
    while live:
        i = live[int(rng.integers(len(live)))]
        t, v = queues[i][pos[i]]
        r = rng.random()
        if r < 0.01:
            v = math.inf
        elif r < 0.02:
            t = t - 5000.0  # late reading
        elif r < 0.025:
            t = math.nan
        out.append((i, t, v))
        pos[i] += 1
        if pos[i] == len(queues[i]):
            live.remove(i)
    return out


def test_bank_equals_series_objects_with_repeated_slots_in_batches() -> None:
    rng = np.random.default_rng(42)
    streams = _streams(12)
    events = _interleave(streams, rng)
    # every other sensor learns episode-aware: one bank mixes both kinds of slot
    dets = [make_series_detector(episodes=i % 2 == 1) for i in range(len(streams))]
    want = np.array([dets[i].score_one(t, v) for i, t, v in events])

    bank = DetectorBank()
    ids = [f"s{i}" for i in range(len(streams))]
    bank.set_episodes(bank.slots(ids[1::2]))
    got = []
    k = 0
    while k < len(events):
        size = int(rng.integers(1, 300))
        batch = events[k:k + size]
        slots = bank.slots([ids[i] for i, _, _ in batch])
        got.append(bank.update(slots, np.array([t for _, t, _ in batch]), np.array([v for _, _, v in batch])))
        k += size
    got = np.concatenate(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert (want > 0.35).any()  # the comparison covers alarms, not only quiet readings
    for i, d in enumerate(dets):
        a, b = d.explain(), bank.explain(bank.slot_of(ids[i]))
        assert a["anomaly_type"] == b["anomaly_type"]
        assert (math.isnan(a["expected"]) and math.isnan(b["expected"])) or abs(a["expected"] - b["expected"]) < 1e-6


def test_slots_are_stable_and_grow() -> None:
    bank = DetectorBank(capacity=2)
    a = bank.slots(["a", "b", "c"])
    b = bank.slots(["c", "a", "d"] + [f"x{i}" for i in range(100)])
    assert list(a) == [0, 1, 2]
    assert list(b[:3]) == [2, 0, 3]
    sc = bank.update(b, np.full(len(b), 1.7e9), np.arange(len(b), dtype=float))
    assert sc.shape == (len(b),) and np.all(sc == 0.0)


def test_empty_batch_and_explain_of_fresh_slot() -> None:
    bank = DetectorBank()
    assert bank.update(np.zeros(0, np.int64), np.zeros(0), np.zeros(0)).shape == (0,)
    s = bank.slots(["only"])
    assert bank.explain(int(s[0]))["anomaly_type"] == "normal"
