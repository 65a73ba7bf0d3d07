"""SensorStage: an isolated fault becomes a maintenance alert, a corroborated event an operational one with evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors import SensorStage
from streams.schemas import Alert, SensorInfo, SensorReading

T0 = 1_700_006_400.0
STEP = 600.0


def ring(cell: str) -> list[str]:
    r, c = (int(x) for x in cell[1:].split("c"))
    return [f"r{r + dr}c{c + dc}" for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


def make_stage(n: int = 4, kind: str = "water_level") -> tuple[SensorStage, list[str]]:
    stage = SensorStage(neighbours=ring)
    ids = [f"wl{i}" for i in range(n)]
    for i, sid in enumerate(ids):
        stage.register(SensorInfo(sensor_id=sid, kind=kind, cell=f"r5c{5 + i % 2}", district="Tianhe",
                                  lat=23.12 + 0.001 * i, lon=113.32))
    return stage, ids


def level(i: int, k: int, rng: np.random.Generator) -> float:
    h = ((T0 + k * STEP) % 86400) / 3600
    return 0.3 + 0.05 * math.sin(h / 24 * 2 * math.pi) + 0.01 * i + rng.normal(0, 0.005)


def run(stage: SensorStage, ids: list[str], steps: int, bump=lambda i, k: 0.0, seed: int = 0,
        start: int = 0) -> list[Alert]:
    rng = np.random.default_rng(seed)
    alerts: list[Alert] = []
    for k in range(start, start + steps):
        ts = T0 + k * STEP
        batch = [SensorReading(sensor_id=sid, ts=ts, value=level(i, k, rng) + bump(i, k)) for i, sid in enumerate(ids)]
        alerts += stage.process(batch, now=ts)
        alerts += stage.tick(ts)
    return alerts


WARM = 6 * 144  # six days of 10-minute readings


def test_warm_clean_city_raises_nothing() -> None:
    stage, ids = make_stage()
    assert run(stage, ids, WARM) == []


def test_isolated_spike_is_a_maintenance_alert() -> None:
    stage, ids = make_stage()
    run(stage, ids, WARM)
    alerts = run(stage, ids, 6, bump=lambda i, k: 1.5 if (i == 0 and k == WARM + 2) else 0.0, start=WARM, seed=1)
    assert alerts, "the faulty reading was not flagged"
    assert {a.subject_id for a in alerts} == {"wl0"}
    a = alerts[-1]
    assert a.kind == "maintenance" and a.category == "sensor_fault"
    assert a.details["corroborated"] is False and a.details["agreeing_sensors"] == []
    assert a.message_ids == [f"wl0@{T0 + (WARM + 2) * STEP}"]


def test_corroborated_rise_is_operational_with_evidence_and_one_alert_per_episode() -> None:
    stage, ids = make_stage()
    run(stage, ids, WARM)
    rise = lambda i, k: 0.6 if (i < 3 and k >= WARM + 2) else 0.0  # three drains fill up together
    alerts = run(stage, ids, 8, bump=rise, start=WARM, seed=2)
    ops = [a for a in alerts if a.kind == "operational"]
    assert ops, [a.reason for a in alerts]
    assert {a.category for a in ops} == {"waterlogging"}
    assert all(a.details["corroborated"] and a.details["agreeing_sensors"] for a in ops)
    assert {a.subject_id for a in ops} <= {"wl0", "wl1", "wl2"}
    # rate limit: one alert id per sensor for the episode, however many readings stay high
    by_sensor: dict[str, set[str]] = {}
    for a in alerts:
        by_sensor.setdefault(a.subject_id, set()).add(a.alert_id)
    assert all(len(v) == 1 for v in by_sensor.values())
    a = ops[0]
    assert "water level" in a.reason and "σ" in a.reason and "m" in a.reason
    assert a.details["anomaly_type"] in {"spike", "level_shift"}
    assert a.details["value"] is not None and a.details["expected"] is not None
    assert all("@" in m for m in a.message_ids)
    assert 1 <= a.severity <= 4 and 0.0 <= a.score <= 1.0


def test_stuck_sensor_and_impossible_value_are_maintenance() -> None:
    stage, ids = make_stage()
    run(stage, ids, WARM)
    rng = np.random.default_rng(3)
    alerts: list[Alert] = []
    for k in range(WARM, WARM + 20):
        ts = T0 + k * STEP
        batch = [SensorReading(sensor_id=sid, ts=ts, value=0.4 if i == 1 else level(i, k, rng)) for i, sid in enumerate(ids)]
        batch.append(SensorReading(sensor_id="wl2", ts=ts + 1, value=99.0 if k == WARM + 5 else level(2, k, rng)))
        alerts += stage.process(batch, now=ts)
    stuck = [a for a in alerts if a.subject_id == "wl1"]
    assert stuck and all(a.kind == "maintenance" and a.category == "sensor_fault" for a in stuck)
    assert any(a.details["anomaly_type"] == "stuck" for a in stuck)
    bad = [a for a in alerts if a.subject_id == "wl2"]
    assert bad and bad[0].kind == "maintenance" and "outside the possible range" in bad[0].reason


def test_silent_sensor_is_reported_once_by_tick() -> None:
    stage, ids = make_stage()
    run(stage, ids, WARM)
    alerts: list[Alert] = []
    rng = np.random.default_rng(4)
    for k in range(WARM, WARM + 12):
        ts = T0 + k * STEP
        alerts += stage.process([SensorReading(sensor_id=s, ts=ts, value=level(i, k, rng))
                                 for i, s in enumerate(ids) if s != "wl3"], now=ts)
        alerts += stage.tick(ts)
    silent = [a for a in alerts if a.subject_id == "wl3"]
    assert len(silent) == 1 and silent[0].kind == "maintenance" and "silent" in silent[0].reason


@pytest.mark.parametrize("value", [None, math.nan, -0.0, 1e9])
def test_bad_and_unknown_readings_never_raise(value) -> None:
    stage, ids = make_stage(2)
    batch = [SensorReading(sensor_id="nobody", ts=T0, value=1.0),
             # the wire schema refuses NaN; the stage must still survive one handed to it directly
             SensorReading.model_construct(sensor_id="wl0", ts=T0, value=value),
             SensorReading(sensor_id="wl0", ts=T0 - 50, value=0.3),
             SensorReading(sensor_id="wl1", ts=float("nan"), value=0.3)]
    for a in stage.process(batch, now=T0):
        assert isinstance(a, Alert)
    assert stage.stats["unknown_sensor"] == 1


def test_isolated_episode_is_upgraded_when_a_neighbour_confirms_it() -> None:
    stage, ids = make_stage()
    run(stage, ids, WARM)
    first = run(stage, ids, 1, bump=lambda i, k: 0.6 if i == 0 else 0.0, start=WARM, seed=5)
    assert [a.kind for a in first] == ["maintenance"] and first[0].details["isolated"] is True
    later = run(stage, ids, 1, bump=lambda i, k: 0.6 if i in (0, 1) else 0.0, start=WARM + 1, seed=6)
    by_id = {a.alert_id: a for a in later}
    assert first[0].alert_id in by_id, "the first sensor's alert is re-emitted under the same id"
    up = by_id[first[0].alert_id]
    assert up.kind == "operational" and up.category == "waterlogging" and "wl1" in up.details["agreeing_sensors"]
    assert any(a.subject_id == "wl1" and a.kind == "operational" for a in later)


def test_isolated_rise_names_the_incident_it_would_mean_a_dip_does_not() -> None:
    stage, ids = make_stage()
    run(stage, ids, WARM)
    up = run(stage, ids, 1, bump=lambda i, k: 1.5 if i == 0 else 0.0, start=WARM, seed=1)
    assert [a.kind for a in up] == ["maintenance"] and up[0].details["event_category"] == "waterlogging"
    stage, ids = make_stage()
    run(stage, ids, WARM)
    down = run(stage, ids, 1, bump=lambda i, k: -1.5 if i == 0 else 0.0, start=WARM, seed=1)
    assert [a.kind for a in down] == ["maintenance"] and down[0].details["event_category"] is None


def test_alerts_carry_the_sustained_rise_a_stuck_jump_has_none() -> None:
    climbing, ids = make_stage(n=1)  # one drain, no neighbour: its alerts are operational, uncorroborated
    run(climbing, ids, WARM)
    alerts = run(climbing, ids, 12, bump=lambda i, k: 0.01 * (k - WARM + 1), start=WARM, seed=4)
    ops = [a for a in alerts if a.kind == "operational"]
    assert ops, [a.reason for a in alerts]
    assert len({a.alert_id for a in ops}) == 1  # re-emitted as it grew, still one episode
    assert 0.05 <= ops[-1].details["excess"] <= 0.13  # ~11 cm held by the last two readings
    assert abs(ops[-1].details["baseline"] - 0.3) < 0.06  # what the drain usually reads
    assert "; held 0.0" in ops[-1].reason and " m beyond the 0.3" in ops[-1].reason, ops[-1].reason
    stuck, ids = make_stage(n=1)
    run(stuck, ids, WARM)
    jumped: list[Alert] = []
    for k in range(WARM, WARM + 12):  # jumps 40 cm, then repeats one value: a stuck gauge, not water
        ts = T0 + k * STEP
        jumped += stuck.process([SensorReading(sensor_id="wl0", ts=ts, value=0.75)], now=ts)
    assert jumped and all((a.details["excess"] or 0.0) < 0.05 for a in jumped)


def test_learning_history_moves_the_models_as_processing_it_would_without_alerting() -> None:
    broken = lambda i, k: 1e6 if (i == 1 and k == 100) else 0.0  # noqa: E731  impossible: missing to the model
    processed, ids = make_stage()
    run(processed, ids, WARM, bump=broken)
    learnt, _ = make_stage()
    rng = np.random.default_rng(0)  # the very readings run() sent, one tick at a time
    for k in range(WARM):
        values = [level(i, k, rng) + broken(i, k) for i in range(len(ids))]
        n = learnt.learn(ids + ["stranger"], np.full(len(ids) + 1, T0 + k * STEP), np.array(values + [1.0]))
        assert n == len(ids)  # the unregistered sensor is skipped
    assert learnt.learn(ids, np.full(len(ids), math.nan), np.ones(len(ids))) == 0  # no usable time
    assert learnt.episodes == {} and learnt.stats["alerts"] == 0
    for sid in ids:
        a = processed.bank.explain_state(processed.bank.slot_of(sid))
        b = learnt.bank.explain_state(learnt.bank.slot_of(sid))
        assert a == b
    spike = lambda i, k: 1.5 if (i == 0 and k == WARM + 2) else 0.0  # noqa: E731
    after = [[a.reason for a in run(s, ids, 6, bump=spike, start=WARM, seed=1)] for s in (processed, learnt)]
    assert after[0] and after[1] == after[0]
