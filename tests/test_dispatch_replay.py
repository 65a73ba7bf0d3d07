"""SFFD replay, policies, default fleet, field simulator and the bench command, on small generated fixtures."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cityops.cli import main
from dispatch.fleet import default_fleet
from dispatch.field import FieldSimulator
from dispatch.policies import Context, Nearest, Optimised, Request, UnitView
from dispatch.replay import Replay, derive_fleet
from dispatch.sffd import read_calls
from dispatch.travel import TravelModel
from streams.city import City
from streams.schemas import IncidentStatus, UnitState, UnitType
from streams.settings import PACKAGE_DATA

from tests.dispatch_helpers import unit

COLS = ["Call Number", "Unit ID", "Incident Number", "Call Type", "Received DtTm", "Dispatch DtTm", "Response DtTm",
        "On Scene DtTm", "Available DtTm", "Station Area", "Battalion", "Original Priority", "Priority",
        "Final Priority", "Call Type Group", "Unit Type", "Location"]
STATIONS = {"1": (37.78, -122.42), "2": (37.76, -122.44), "3": (37.74, -122.40)}


def _fmt(t: datetime) -> str:
    return t.strftime("%m/%d/%Y %I:%M:%S %p")


def write_calls(path: Path, n: int = 150, seed: int = 3, bad_rows: int = 2) -> None:
    """An SFFD-format export: n calls over a day, engines and medics from three stations."""
    rng = random.Random(seed)
    t0 = datetime(2017, 1, 1)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLS)
        w.writeheader()
        for i in range(n):
            st = rng.choice(list(STATIONS))
            lat, lon = STATIONS[st][0] + rng.uniform(-0.01, 0.01), STATIONS[st][1] + rng.uniform(-0.01, 0.01)
            rec = t0 + timedelta(seconds=i * 86400 / n + rng.uniform(0, 60))
            prio = rng.choice(["3", "3", "2"])
            for k, (utype, prefix) in enumerate([("ENGINE", "E"), ("MEDIC", "M")][: rng.choice([1, 2])]):
                uid = f"{prefix}{rng.choice(list(STATIONS))}{rng.choice('ab')}"
                disp = rec + timedelta(seconds=60 + k * 10)
                on = disp + timedelta(seconds=rng.uniform(200, 500))
                w.writerow({"Call Number": str(1000 + i), "Unit ID": uid, "Incident Number": str(i),
                            "Call Type": "Medical Incident", "Received DtTm": _fmt(rec), "Dispatch DtTm": _fmt(disp),
                            "Response DtTm": _fmt(disp + timedelta(seconds=40)), "On Scene DtTm": _fmt(on),
                            "Available DtTm": _fmt(on + timedelta(seconds=rng.uniform(600, 3000))),
                            "Station Area": st.zfill(2), "Battalion": "B01", "Original Priority": prio,
                            "Priority": prio, "Final Priority": prio, "Call Type Group": "Potentially Life-Threatening",
                            "Unit Type": utype, "Location": f"({lat}, {lon})"})
        for _ in range(bad_rows):
            w.writerow({"Call Number": "9999", "Unit ID": "E1a", "Received DtTm": "yesterday", "Location": "nowhere"})


@pytest.fixture
def calls_file(tmp_path: Path) -> Path:
    p = tmp_path / "calls.csv"
    write_calls(p)
    return p


def test_reader_groups_units_by_call_and_reports_bad_rows(calls_file: Path) -> None:
    calls, rep = read_calls(calls_file)
    assert len(calls) == 150 and rep.rows == rep.used + 2 and sum(rep.skipped.values()) == 2
    assert all(c.units and c.received <= c.units[0].dispatch for c in calls)
    assert calls == sorted(calls, key=lambda c: c.received)


def test_fleet_scale_keeps_a_spread_fraction_per_type(calls_file: Path) -> None:
    calls, _ = read_calls(calls_file)
    full = derive_fleet(calls, 1.0)
    half = derive_fleet(calls, 0.5)
    assert {u.utype for u in full.units} == {"ENGINE", "MEDIC"} == {u.utype for u in half.units}
    for t in ("ENGINE", "MEDIC"):
        n_full = sum(u.utype == t for u in full.units)
        assert sum(u.utype == t for u in half.units) == round(n_full / 2)
    assert len({u.station for u in half.units}) >= 2


@pytest.mark.parametrize("policy", ["nearest", "optimised"])
def test_replay_command_writes_the_documented_json(calls_file: Path, tmp_path: Path, policy: str, capsys) -> None:
    out = tmp_path / "r.json"
    assert main(["replay", "dispatch", "--calls", str(calls_file), "--policy", policy, "--fleet-scale", "0.5",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    for k in ("policy", "calls", "mean_response_s", "p50_response_s", "p90_response_s", "late_fraction", "utilisation"):
        assert k in d
    assert d["policy"] == policy and d["calls"] == 150
    assert 0 < d["p50_response_s"] <= d["p90_response_s"] and 0 <= d["late_fraction"] <= 1
    assert 0 < d["utilisation"] <= 1
    assert d["engine_incidents"] == 150 and d["engine_refusals"] == 0  # every step went through the engine
    assert "late by priority" in capsys.readouterr().out


def test_scarce_fleet_waits_and_optimised_is_not_worse_on_late(calls_file: Path) -> None:
    calls, _ = read_calls(calls_file)
    near = Replay(calls, Nearest(), 0.3, use_engine=False).run()
    opt = Replay(calls, Optimised(), 0.3, use_engine=False).run()
    full = Replay(calls, Nearest(), 1.0, use_engine=False).run()
    assert near.mean_response_s > full.mean_response_s  # fewer units: waiting counts in the response
    assert opt.late_fraction <= near.late_fraction


def test_replay_refuses_a_file_without_calls(tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_text(",".join(COLS) + "\n")
    assert main(["replay", "dispatch", "--calls", str(p)]) == 2


def _ctx() -> Context:
    lat = np.array([0.0, 0.01])
    return Context(lat, np.zeros(2), np.array([[0.0, 100.0], [100.0, 0.0]]))


def _eta(units, r: Request) -> np.ndarray:
    return np.array([abs(u.lat - r.lat) * 1e5 for u in units])


def test_optimised_matches_jointly_where_nearest_is_greedy() -> None:
    # r1 came first; the unit nearest to it is the only one that can reach r2 in time
    r1 = Request(1, 0, "E", lat=0.000, lon=0, ready=0, deadline=2000, urgent=True)
    r2 = Request(2, 1, "E", lat=0.010, lon=0, ready=1, deadline=700, urgent=True)
    units = [UnitView(0, "E", 0.004, 0, 0), UnitView(1, "E", -0.005, 0, 0)]
    greedy = {r.rid: u.uid for r, u in Nearest().assign(0, [r1, r2], units, _eta)}
    joint = {r.rid: u.uid for r, u in Optimised(coverage_weight=0).assign(0, [r1, r2], units, _eta, _ctx())}
    assert greedy == {1: 0, 2: 1}  # r2 gets the far unit: 1500 s, late
    assert joint == {1: 1, 2: 0}  # both on time


def test_optimised_sends_first_units_before_reinforcements() -> None:
    first = Request(1, 0, "E", lat=0.0, lon=0, ready=5, deadline=600, urgent=True)
    reinforce = Request(2, 1, "E", lat=0.0, lon=0, ready=0, deadline=600, urgent=True, primary=False)
    got = Optimised(coverage_weight=0).assign(10, [reinforce, first], [UnitView(0, "E", 0.001, 0, 0)], _eta, _ctx())
    assert [r.rid for r, _ in got] == [1]


def test_default_fleet_covers_every_district() -> None:
    city = City.load(PACKAGE_DATA / "guangzhou_districts.geojson", 2000.0)
    fleet = default_fleet(city)
    assert len({u.unit_id for u in fleet}) == len(fleet)
    for did in city.districts:
        mine = [u for u in fleet if u.district == did]
        assert len({(u.home_lat, u.home_lon) for u in mine}) >= 2  # at least two stations
        assert {u.type for u in mine} == set(UnitType)


def test_field_simulator_reports_en_route_then_on_scene_after_eta() -> None:
    from dispatch.engine import Engine
    from tests.dispatch_helpers import cmd, update

    eng = Engine()
    eng.apply(unit("u1", lat=23.20, lon=113.30), 0.0)
    eng.apply(update("I1", ts=1000.0), 1000.0)
    eng.apply(cmd("assign", "I1", unit_ids=["u1"]), 1000.0)
    sim = FieldSimulator(TravelModel())
    sim.observe_unit(eng.units["u1"].info)
    sim.observe_incident(eng.incidents["I1"], 1000.0)
    now = sim.pop_due(1000.0)
    assert [s.status for s in now] == [UnitState.EN_ROUTE]
    assert sim.pop_due(1100.0) == []
    later = sim.pop_due(5000.0)
    assert [s.status for s in later] == [UnitState.ON_SCENE] and later[0].ts > 1100.0
    out = eng.apply(later[0], later[0].ts)
    assert eng.incidents["I1"].status is IncidentStatus.ON_SCENE and "I1" in out.incidents


def test_field_simulator_drops_arrival_of_a_released_unit() -> None:
    from dispatch.engine import Engine
    from tests.dispatch_helpers import cmd, update

    eng = Engine()
    eng.apply(unit("u1", lat=23.20, lon=113.30), 0.0)
    eng.apply(update("I1", ts=1000.0), 1000.0)
    eng.apply(cmd("assign", "I1", unit_ids=["u1"]), 1000.0)
    sim = FieldSimulator()
    sim.observe_unit(eng.units["u1"].info)
    sim.observe_incident(eng.incidents["I1"], 1000.0)
    assert [s.status for s in sim.pop_due(1000.0)] == [UnitState.EN_ROUTE]
    eng.apply(cmd("unassign", "I1", unit_ids=["u1"]), 1001.0)
    sim.observe_incident(eng.incidents["I1"], 1001.0)
    assert sim.pop_due(9999.0) == []  # released before it got there: no arrival


def test_bench_counts_add_up(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    assert main(["bench", "dispatch", "--commands", "1200", "--batch", "50", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["commands"] == 1200 and d["applied"] + d["refused"] + d["duplicates_ignored"] == 1200
    assert d["refused"] > 0 and d["duplicates_ignored"] > 0 and d["commands_per_s"] > 0


def test_evaluate_dispatch_compares_policies_per_scale(calls_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "e.json"
    assert main(["evaluate", "dispatch", "--calls", str(calls_file), "--scales", "1,0.3", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert [r["fleet_scale"] for r in d["scales"]] == [1.0, 0.3]
    assert {"nearest", "optimised", "late_change", "mean_change", "p90_change"} <= set(d["scales"][0])
    assert isinstance(d["real_fleet_p90_ok"], bool) and "bar scale" in capsys.readouterr().out


def test_reader_accepts_the_newer_export_spelling(tmp_path: Path) -> None:
    p = tmp_path / "new.csv"
    p.write_text("call_number,unit_id,call_type,received_dttm,dispatch_dttm,response_dttm,on_scene_dttm,"
                 "available_dttm,station_area,battalion,priority,unit_type,case_location\n"
                 "1,E01,Medical Incident,2019-01-01T00:00:00.000,2019-01-01T00:01:00.000,2019-01-01T00:01:30.000,"
                 "2019-01-01T00:05:00.000,2019-01-01T00:30:00.000,01,B01,3,ENGINE,POINT (-122.42 37.78)\n")
    calls, rep = read_calls(p)
    assert rep.used == 1 and len(calls) == 1
    c = calls[0]
    assert (c.lat, c.lon) == (37.78, -122.42) and c.priority == "3" and c.units[0].on_scene - c.received == 300
