"""DashboardState: incidents by revision, KPIs, alarm-flood grouping, heat, metrics, units."""

from __future__ import annotations

import time

from dashboard.state import FLOOD_COUNT, DashboardState, local_midnight
from streams.schemas import Alert, DispatchEvent, UnitInfo, UnitStatus
from tests.dashboard_helpers import incident, metrics

T0 = 1_800_000_000.0  # a fixed event time; the state's clock follows event time


def test_incident_revisions_replace_older_and_ignore_stale():
    s = DashboardState(wall=lambda: T0)
    assert s.apply_incident(incident("a", 2, opened_at=T0))[0][1] == "incident:a"
    assert s.apply_incident(incident("a", 1, opened_at=T0)) == []  # replayed older revision
    assert s.apply_incident(incident("a", 2, opened_at=T0)) == []  # duplicate
    out = s.apply_incident(incident("a", 3, status="acknowledged", opened_at=T0, acknowledged_at=T0 + 30))
    assert out[0][2]["status"] == "acknowledged"
    assert s.incidents["a"]["revision"] == 3


def test_kpis_count_open_by_priority_and_mean_times_today():
    s = DashboardState(wall=lambda: T0)
    midnight = local_midnight(T0, 8.0)
    s.apply_incident(incident("a", 1, opened_at=midnight + 100, priority=1, acknowledged_at=midnight + 160,
                              dispatched_at=midnight + 400, status="dispatched", sla_breaches=["arrival"]))
    s.apply_incident(incident("b", 1, opened_at=midnight + 200, priority=3, acknowledged_at=midnight + 300,
                              status="acknowledged"))
    s.apply_incident(incident("c", 1, opened_at=midnight + 300, priority=2, status="resolved"))
    s.apply_incident(incident("old", 1, opened_at=midnight - 5000, priority=2, acknowledged_at=midnight - 10))
    s.apply_metrics(metrics("440104", ts=T0))
    s.apply_metrics(metrics("440105", ts=T0, sensors_reporting=90, sensors_known=100, readings=100, readings_per_s=50.0))
    k = s.kpis(midnight + 1000)
    assert k["open_by_priority"] == {"1": 1, "2": 1, "3": 1, "4": 0}  # c resolved; "old" is still open
    assert k["open_total"] == 3
    assert k["mtta_s"] == 80.0  # (60 + 100) / 2, "old" was opened yesterday
    assert k["mttd_s"] == 300.0
    assert k["sla_breaches_open"] == 1
    assert (k["sensors_known"], k["sensors_online"], k["sensors_silent"]) == (300, 270, 30)
    assert k["readings_per_s"] == 250.0
    assert k["incidents_today"] == 3


def test_local_midnight_is_guangzhou_day():
    # 2026-01-14T17:30Z is 01:30 on the 15th in Guangzhou, whose day began at 16:00Z
    ts = 1_768_411_800.0
    assert (ts - local_midnight(ts, 8.0)) == 1.5 * 3600


def test_flood_guard_groups_more_than_ten_new_incidents_in_ten_minutes():
    s = DashboardState(wall=lambda: T0)
    for i in range(FLOOD_COUNT):
        s.apply_incident(incident(f"w{i}", 1, opened_at=T0 - 60 + i, category="waterlogging", district="440104"))
    assert s.flood(T0)["active"] is False  # exactly ten: no flood
    s.apply_incident(incident("f1", 1, opened_at=T0 - 10, category="fire", district="440105", severity=4))
    s.apply_incident(incident("w-old", 1, opened_at=T0 - 3600, category="waterlogging"))  # outside the window
    f = s.flood(T0)
    assert f["active"] is True and f["count"] == FLOOD_COUNT + 1
    assert f["groups"][0]["category"] == "fire"  # most severe first
    water = next(g for g in f["groups"] if g["category"] == "waterlogging")
    assert water["count"] == FLOOD_COUNT and "w-old" not in water["incident_ids"]
    assert s.flood(T0 + 3600)["active"] is False  # the flood passes


def _alert(aid: str, ts: float, cell: str, score: float, kind: str = "operational") -> Alert:
    return Alert(alert_id=aid, ts=ts, source="sensor", kind=kind, category="waterlogging", cell=cell,
                 district="440104", lat=23.1, lon=113.3, score=score, reason="r")


def test_heat_sums_recent_operational_alerts_per_cell():
    s = DashboardState(wall=lambda: T0)
    s.apply_alert(_alert("old", T0 - 4000, "r1c1", 0.9))
    s.apply_alert(_alert("a", T0 - 100, "r1c1", 0.5))
    s.apply_alert(_alert("b", T0 - 50, "r1c1", 0.25))
    s.apply_alert(_alert("m", T0 - 50, "r2c2", 0.9, kind="maintenance"))
    s.apply_alert(_alert("c", T0 - 10, "r3c3", 0.4))
    heat = {h["cell"]: h["value"] for h in s.heat(T0)}
    assert heat == {"r1c1": 0.75, "r3c3": 0.4}


def test_detail_joins_evidence_alerts_and_history():
    s = DashboardState(wall=lambda: T0)
    s.apply_incident(incident("a", 1, opened_at=T0))
    s.apply_alert(_alert("a-a1", T0, "r050c060", 0.8))
    s.apply_event(DispatchEvent(event_id="e1", ts=T0 + 1, kind="command_refused", incident_id="a", reason="no"))
    d = s.incident_detail("a")
    assert [x["alert_id"] for x in d["alerts"]] == ["a-a1"]
    assert d["events"][0]["kind"] == "command_refused"
    assert s.incident_detail("missing") is None


def test_units_merge_registry_and_status_and_metrics_keep_newest():
    s = DashboardState(wall=lambda: T0)
    s.apply_unit_info(UnitInfo(unit_id="u1", type="fire_engine", district="440104", home_lat=23.1, home_lon=113.2))
    out = s.apply_unit_status(UnitStatus(unit_id="u1", ts=T0, status="en_route", lat=23.2, lon=113.3, incident_id="a"))
    assert out[0][2]["type"] == "fire_engine" and out[0][2]["status"] == "en_route" and out[0][2]["lat"] == 23.2
    assert s.apply_unit_status(UnitStatus(unit_id="u1", ts=T0 - 5, status="available")) == []
    s.apply_metrics(metrics("440104", ts=T0))
    assert s.apply_metrics(metrics("440104", ts=T0 - 3600)) == []  # far older than the view: a replay


def test_snapshot_keeps_open_and_recent_closed_and_history_samples():
    s = DashboardState(wall=lambda: T0)
    s.apply_incident(incident("open", 1, opened_at=T0))
    for i in range(350):
        s.apply_incident(incident(f"done{i}", 1, status="closed", opened_at=T0 - 1000 + i))
    snap = s.snapshot()
    ids = {i["incident_id"] for i in snap["incidents"]}
    assert "open" in ids and len(ids) == 301 and "done349" in ids and "done0" not in ids
    s.aggregates(T0)  # no metrics yet: nothing to sample
    for dt in (0, 5, 10):  # 5 s is under one history step: not sampled
        s.apply_metrics(metrics("440104", ts=T0 + dt))
        s.aggregates(T0 + 100)  # the history follows the metrics' time, not the clock
    s.apply_metrics(metrics("440105", ts=T0 - 3000))  # a late district does not rewind the history
    s.aggregates(T0 + 100)
    h = s.history.as_dict()
    assert h["ts"] == [T0, T0 + 10] and h["series"]["pm25.mean"] == [41.0, 41.0]


def test_prune_forgets_only_old_closed_incidents():
    s = DashboardState(wall=lambda: T0)
    s.apply_incident(incident("old-closed", status="closed", opened_at=T0 - 4 * 86400, updated_at=T0 - 3 * 86400))
    s.apply_incident(incident("old-open", opened_at=T0 - 4 * 86400, updated_at=T0 - 3 * 86400))
    s.apply_incident(incident("recent-closed", status="resolved", opened_at=T0 - 3600, updated_at=T0 - 600))
    assert s.prune(T0) == 1
    assert set(s.incidents) == {"old-open", "recent-closed"}


def test_metrics_merge_bursty_and_partial_windows_over_a_horizon():
    s = DashboardState(wall=lambda: T0)
    full = dict(readings=400, readings_per_s=200.0, sensors_reporting=180, sensors_known=200,
                kinds={"pm25": {"mean": 40.0, "max": 80.0, "n": 100.0}},
                hotline_top=[{"category": "noise", "cell": "c1", "count": 2}], hotline_calls=2, video_events=1)
    empty = dict(readings=0, readings_per_s=0.0, sensors_reporting=0, sensors_known=200, kinds={},
                 hotline_top=[], hotline_calls=0, video_events=0)
    s.apply_metrics(metrics("440104", ts=T0, **full))
    s.apply_metrics(metrics("440104", ts=T0 + 2, **empty))  # a quiet tick must not blank the screen
    s.apply_metrics(metrics("440104", ts=T0 + 4, **{**full, "kinds": {"pm25": {"mean": 70.0, "max": 90.0, "n": 300.0}}}))
    v = s.metrics["440104"]
    assert v["sensors_reporting"] == 180 and v["readings"] == 800
    assert v["readings_per_s"] == round(800 / 6.0, 2)  # three 2-second windows
    assert v["kinds"]["pm25"] == {"mean": 62.5, "max": 90.0, "n": 400.0}  # weighted by samples
    # hot spots are the worker's current state (last hour's merged signals), not summed over windows
    assert v["hotline_top"] == [{"category": "noise", "cell": "c1", "count": 2}] and v["video_events"] == 2
    for k in range(10):  # beyond the horizon the old figures have aged out
        s.apply_metrics(metrics("440104", ts=T0 + 1200 + 2 * k, **empty))
    assert s.metrics["440104"]["sensors_reporting"] == 0
    assert s.kpis(T0 + 1220)["sensors_silent"] == 200


def test_sensors_online_sums_each_workers_newest_count():
    state = DashboardState()
    now = time.time()
    state.apply_metrics(metrics("440104", ts=now - 4, sensors_online=70, worker="w1", sensors_known=200))
    state.apply_metrics(metrics("440104", ts=now - 3, sensors_online=90, worker="w2", sensors_known=200))
    state.apply_metrics(metrics("440104", ts=now - 2, sensors_online=80, worker="w1", sensors_known=200))
    assert state.metrics["440104"]["sensors_online"] == 170  # w1's newest (80) + w2's (90)
    assert state.kpis(now)["sensors_online"] == 170
