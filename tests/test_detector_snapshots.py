"""A restarted worker resumes its sensor models from snapshots; a bad snapshot is set aside, never fatal."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from detectors import DetectorBank, synthetic
from streams import snapshots

IDS = ["wl-1", "pm-2", "ts-3"]


def _series(days: int = 3) -> list[synthetic.Synthetic]:
    return [synthetic.make(k, seed=i, days=days) for i, k in enumerate(("spike", "level_shift", "stuck"))]


def _feed(bank: DetectorBank, streams: list[synthetic.Synthetic], a: int, b: int, ids=IDS) -> np.ndarray:
    """Readings a..b of every stream, one batch per reading index; the scores in order."""
    out = []
    slots = bank.slots(ids)
    for k in range(a, b):
        ts = np.array([s.ts[k] for s in streams])
        x = np.array([s.values[k] for s in streams])
        out.append(bank.update(slots, ts, x))
    return np.concatenate(out)


def test_a_restored_bank_scores_exactly_like_the_one_that_never_stopped() -> None:
    streams = _series()
    n = len(streams[0].ts)
    live = DetectorBank()
    _feed(live, streams, 0, n // 2)
    restarted = DetectorBank()
    assert restarted.restore(live.state()) == len(IDS)
    cold = DetectorBank()
    ahead, resumed, fresh = (_feed(b, streams, n // 2, n) for b in (live, restarted, cold))
    np.testing.assert_array_equal(resumed, ahead)
    assert not np.array_equal(fresh, ahead)  # without the snapshot the models start over


def test_restore_takes_only_the_chosen_sensors_into_their_own_slots() -> None:
    streams = _series(days=2)
    src = DetectorBank()
    _feed(src, streams, 0, 200)
    dst = DetectorBank()
    dst.slots(["other", "ts-3"])  # slots already taken keep their ids
    assert dst.restore(src.state(), only=[2]) == 1
    assert dst.slot_of("ts-3") == 1 and dst.slot_of("wl-1") is None
    assert dst.explain_state(1) == src.explain_state(src.slot_of("ts-3"))
    assert dst.explain_state(0)["n"] == 0.0


def test_a_snapshot_of_another_detector_version_is_refused() -> None:
    bank = DetectorBank()
    bank.slots(IDS)
    state = bank.state()
    with pytest.raises(ValueError, match="another detector version"):
        DetectorBank(bins_per_day=12).restore(state)
    state["st"] = state["st"][:, :2]
    with pytest.raises(ValueError, match="do not match"):
        DetectorBank().restore(state)


def test_each_sensor_resumes_from_the_snapshot_that_saw_it_last(tmp_path) -> None:
    streams = _series(days=2)
    early, late = DetectorBank(), DetectorBank()
    _feed(early, streams, 0, 100)
    _feed(late, streams[:1], 0, 150, ids=IDS[:1])  # wl-1 moved to another worker, which went on
    assert snapshots.save(early, tmp_path / "a.npz") == 3
    assert snapshots.save(late, tmp_path / "b.npz") == 1
    bank = DetectorBank()
    assert snapshots.load_newest(bank, tmp_path) == {"a.npz": 2, "b.npz": 1}
    assert bank.explain_state(bank.slot_of("wl-1"))["n"] == 150
    assert bank.explain_state(bank.slot_of("pm-2"))["n"] == 100
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed into place


def test_an_unreadable_or_foreign_snapshot_is_set_aside_with_a_reason(tmp_path, caplog) -> None:
    good = DetectorBank()
    _feed(good, _series(days=2), 0, 50)
    snapshots.save(good, tmp_path / "good.npz")
    (tmp_path / "torn.npz").write_bytes(b"PK\x03\x04 half a zip file")
    other = DetectorBank(bins_per_day=12)
    other.slots(["x"])
    snapshots.save(other, tmp_path / "old.npz")
    bank = DetectorBank()
    with caplog.at_level(logging.WARNING, logger="streams.snapshots"):
        taken = snapshots.load_newest(bank, tmp_path)
    assert taken == {"good.npz": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz", "old.bad", "torn.bad"]
    reasons = " ".join(r.getMessage() for r in caplog.records)
    assert "torn.npz" in reasons and "another detector version" in reasons
    assert snapshots.load_newest(DetectorBank(), tmp_path / "missing") == {}


def test_the_worker_pipeline_resumes_from_its_apps_snapshots(tmp_path, monkeypatch) -> None:
    from streams.settings import load
    from streams.worker import build_pipeline

    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path))
    monkeypatch.setenv("CITYOPS_APP_ID", "snap-test")
    settings = load()
    bank = DetectorBank()
    _feed(bank, _series(days=2), 0, 80)
    snapshots.save(bank, settings.detector_snapshots / f"{settings.worker_name}.npz")
    resumed = build_pipeline(settings).sensor_stage.bank
    assert resumed.explain_state(resumed.slot_of("pm-2"))["n"] == 80
    assert build_pipeline(settings, resume=False).sensor_stage.bank.slot_of("pm-2") is None
