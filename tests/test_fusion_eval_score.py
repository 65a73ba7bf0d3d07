"""Evaluation scoring on a tiny hand-made truth and incident set (no simulator, no broker)."""

from __future__ import annotations

import pytest

from cityops.evaluation.city_score import score, table
from streams.schemas import EvidenceItem, IncidentUpdate, ScenarioTruth

T0 = 1_790_000_000.0


def nb(cell: str) -> list[str]:
    r, c = int(cell[1:4]), int(cell[5:8])
    return [f"r{r + dr:03d}c{c + dc:03d}" for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


def truth(sid: str, typ: str, cell: str, start: float, end: float, strength: float = 0.8,
          operational: bool = True, sensors: list[str] | None = None, **details) -> ScenarioTruth:
    return ScenarioTruth(scenario_id=sid, type=typ, start=start, end=end, cells=[cell], district="d1", lat=23.1,
                         lon=113.3, strength=strength, operational=operational, sensors=sensors or [],
                         details=details)


def upd(iid: str, cat: str, cell: str, opened: float, rev: int = 1, subjects: tuple[str, ...] = ("x",)) -> IncidentUpdate:
    ev = [EvidenceItem(alert_id=f"{iid}-{s}", source="sensor", ts=opened, reason="r", subject_id=s, cell=cell,
                       message_ids=[f"m-{s}"]) for s in subjects]
    return IncidentUpdate(incident_id=iid, revision=rev, ts=opened, category=cat, severity=2, priority=3, cell=cell,
                          district="d1", lat=23.1, lon=113.3, opened_at=opened, why="w", sources=["sensor"],
                          evidence=ev)


@pytest.fixture()
def report() -> dict:
    truths = [
        truth("w1", "waterlogging", "r010c010", T0, T0 + 3600, strength=0.9),
        truth("w2", "waterlogging", "r050c050", T0, T0 + 3600, strength=0.2),  # missed (weak)
        truth("f1", "building_fire", "r020c020", T0 + 100, T0 + 1000, strength=0.5),
        truth("s1", "sensor_fault", "r030c030", T0, T0 + 7200, operational=False, sensors=["wl-9"], kind="water_level"),
        truth("s2", "sensor_fault", "r040c040", T0, T0 + 7200, operational=False, sensors=["pm-1"], kind="pm25"),
        truth("q1", "noise_only", "r060c060", T0, T0 + 7200, operational=False),
    ]
    updates = [
        upd("A", "waterlogging", "r011c011", T0 + 600),  # neighbour cell: matches w1
        upd("A", "waterlogging", "r011c011", T0 + 600, rev=2),
        upd("B", "pipe_burst", "r010c010", T0 + 900),  # compatible: a second incident for w1
        upd("C", "fire", "r020c020", T0 + 400),  # f1, delay 300
        upd("D", "traffic", "r020c020", T0 + 400),  # wrong category: false
        upd("E", "waterlogging", "r030c030", T0 + 50, subjects=("wl-9",)),  # the fault raised as an incident
        upd("F", "fire", "r090c090", T0 + 10),  # nowhere near anything: false
        upd("G", "fire", "r020c020", T0 + 90_000),  # too late for f1: false
        upd("H", "traffic", "r061c060", T0 + 700),  # inside a labelled quiet period: false
    ]
    return score(truths, updates, nb, n_sensors=2000, t0=T0, t1=T0 + 86_400, slack_s=1800)


def test_overall_figures(report: dict) -> None:
    o = report["overall"]
    assert (o["scenarios"], o["faults"], o["detected"]) == (3, 2, 2)
    assert o["recall"] == pytest.approx(2 / 3)
    assert (o["true_incidents"], o["fault_incidents"], o["false_incidents"]) == (3, 1, 4)
    assert o["precision"] == pytest.approx(3 / 8)
    assert o["incidents_per_event"] == pytest.approx(1.5)
    assert o["fault_incident_rate"] == pytest.approx(0.5)
    assert o["median_delay_s"] == pytest.approx((600 + 300) / 2)
    assert o["false_per_1000_sensors_day"] == pytest.approx(4 / 2 / 1)
    assert o["recall_by_band"]["strong"] == {"n": 1, "detected": 1, "recall": 1.0}
    assert o["recall_by_band"]["weak"]["recall"] == 0.0


def test_by_type_has_the_same_keys_and_charges_false_incidents(report: dict) -> None:
    bt = report["by_type"]
    for key in ("recall", "precision", "incidents_per_event", "fault_incident_rate", "median_delay_s"):
        assert all(key in s for s in bt.values())
    assert bt["waterlogging"]["recall"] == 0.5 and bt["waterlogging"]["incidents_per_event"] == 2.0
    fire = bt["building_fire"]
    assert fire["recall"] == 1.0 and fire["false_incidents"] == 2 and fire["precision"] == pytest.approx(1 / 3)
    assert fire["median_delay_s"] == 300
    assert bt["sensor_fault"]["fault_incident_rate"] == 0.5 and bt["sensor_fault"]["recall"] is None
    assert bt["traffic_jam"]["false_incidents"] == 1
    assert bt["noise_only"]["false_incidents"] == 1 and bt["noise_only"]["quiet_periods"] == 1


def test_operator_load_and_table(report: dict) -> None:
    load = report["operator_load"]
    assert load["bins"] == 144 and load["max_per_10min"] == 4  # C, D, E, F open in the first 10 minutes
    text = table(report)
    assert "OVERALL" in text and "building_fire" in text and "recall by strength band" in text


def test_district_batches_keep_every_reading_and_a_stable_district_per_cell() -> None:
    from cityops.evaluation.city import district_batches
    from streams.schemas import SensorBatch, SensorReading

    cells = {"r001c001": "A", "r001c002": "A", "r009c009": "B"}
    batches = [SensorBatch(cell=c, readings=[SensorReading(sensor_id=f"{c}-{k}", ts=T0 + k, value=1.0)
                                             for k in range(3)]) for c in cells]
    out = district_batches(batches, cells.__getitem__)
    assert sorted(out) == ["A", "B"]
    assert [r.sensor_id for r in out["A"].readings] == [f"r001c001-{k}" for k in range(3)] + [
        f"r001c002-{k}" for k in range(3)]
    assert len(out["B"].readings) == 3


def test_window_ends_in_the_past_and_spans_the_days() -> None:
    from cityops.evaluation.city import CityEvalConfig, window

    now = T0 + 12_345.0
    t0, t1 = window(CityEvalConfig(days=7), now)
    assert t1 - t0 == 7 * 86_400 and t1 < now and t0 % 3600 == 0
    assert window(CityEvalConfig(days=7), 1_800_000_000.0)[0] == 1_793_491_200.0  # a fixed, repeatable start
    assert window(CityEvalConfig(days=1, start=T0), T0 + 10 * 86_400) == (T0, T0 + 86_400)


def test_ticks_split_a_step_by_reading_interval_in_time_order() -> None:
    from cityops.evaluation.city import _ticks
    from streams.schemas import HotlineCall, SensorBatch, SensorReading, VideoEvent
    from streams.simulator import Emissions

    em = Emissions(
        batches=[SensorBatch(cell="r001c001", readings=[SensorReading(sensor_id="s", ts=T0 + 130, value=1.0),
                                                        SensorReading(sensor_id="s", ts=T0 + 10, value=1.0)])],
        video=[VideoEvent(event_id="v", camera_id="c", ts=T0 + 125, type="crowd", confidence=0.9)],
        calls=[HotlineCall(call_id="h", ts=T0 + 5, text="水浸街")],
    )
    slots = list(_ticks(em, 120.0))
    # T0 is 80 s into a 120 s tick: +5 and +10 fall in it, +125 and +130 in the next
    assert [(len(r), len(v), len(c)) for r, v, c in slots] == [(1, 0, 1), (1, 1, 0)]
    assert sum(len(r) for r, _, _ in slots) == 2 and sum(len(v) for _, v, _ in slots) == 1
    assert slots[0][2][0].call_id == "h" and slots[-1][1][0].event_id == "v"


def test_false_incidents_are_broken_down_by_what_opened_them(report: dict) -> None:
    # D, F, G are unmatched (H is charged to its quiet period); every test update opened on a sensor
    assert report["run"]["false_by_opening"] == {"fire: sensor": 2, "traffic: sensor": 1}
    assert "unmatched incidents by what opened them: fire: sensor 2, traffic: sensor 1" in table(report)


def test_the_evaluated_week_starts_from_detectors_that_learnt_the_week_before(tmp_path) -> None:
    from cityops.evaluation.city import CityEvalConfig, _warm_snapshot, build_simulator, window
    from detectors import DetectorBank
    from streams import snapshots
    from streams.settings import load

    cfg = CityEvalConfig(scenarios=3, days=1, sensors=60, cameras=5, interval_s=600.0, warmup_days=2)
    t0, t1 = window(cfg, T0 + 10 * 86_400)
    city, sim, _ = build_simulator(cfg, load(), t0, t1)
    sensors, _ = sim.registry()
    path = tmp_path / "detectors" / "eval" / "worker.npz"
    learnt = _warm_snapshot(cfg, city, sim, sensors, t0, path)
    assert learnt > 0.95 * len(sensors) * 2 * 144  # two days of every sensor (a few readings missing)
    bank = DetectorBank()
    assert snapshots.load_newest(bank, path.parent) == {"worker.npz": len(sensors)}
    state = bank.explain_state(bank.slot_of(sensors[0].sensor_id))
    assert state["n"] > 250 and state["tmax"] < t0  # learnt up to the evaluated week, not into it
    cold = CityEvalConfig(scenarios=3, days=1, sensors=60, cameras=5, interval_s=600.0, warmup_days=0)
    assert _warm_snapshot(cold, city, sim, sensors, t0, tmp_path / "cold.npz") == 0 and not (tmp_path / "cold.npz").exists()
