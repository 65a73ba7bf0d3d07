"""Dispatch engine: lifecycle guards, idempotency, units, merge/split/reopen, fusion updates, SLA."""

from __future__ import annotations

import pytest

from dispatch.engine import Engine
from streams.schemas import DispatchEventKind as K
from streams.schemas import IncidentStatus as S
from streams.schemas import UnitState, UnitStatus, UnitType

from tests.dispatch_helpers import cmd, unit, update


@pytest.fixture
def eng() -> Engine:
    e = Engine()
    for i, t in enumerate([UnitType.FIRE_ENGINE, UnitType.FIRE_ENGINE, UnitType.AMBULANCE, UnitType.POLICE]):
        e.apply(unit(f"u{i}", t, lat=23.13 + 0.01 * i), 0.0)
    e.apply(update("I1"), 1000.0)
    return e


def kinds(out) -> list[str]:
    return [e.kind.value for e in out.events]


def test_fusion_update_opens_incident_with_recommendations(eng: Engine) -> None:
    inc = eng.incidents["I1"]
    assert inc.status is S.NEW and inc.revision == 1
    recs = [r for r in inc.recommendations if r["unit_id"]]
    assert recs[0]["unit_id"] == "u0" and recs[0]["eta_s"] > 0 and "fire_engine" in recs[0]["why"]
    assert recs[0]["eta_s"] <= recs[1]["eta_s"]


def test_full_lifecycle(eng: Engine) -> None:
    for action, kw, want in [("acknowledge", {}, S.ACKNOWLEDGED), ("assign", {"unit_ids": ["u0", "u2"]}, S.DISPATCHED),
                             ("arrive", {"unit_ids": ["u0"]}, S.ON_SCENE), ("resolve", {}, S.RESOLVED),
                             ("close", {}, S.CLOSED)]:
        out = eng.apply(cmd(action, "I1", **kw), 1010.0)
        assert kinds(out) == ["command_applied"], out.events
        assert eng.incidents["I1"].status is want
    assert eng.units["u0"].status is UnitState.AVAILABLE and eng.units["u0"].incident_id is None
    assert "I1" not in eng.open_ids


@pytest.mark.parametrize("action,kw,why", [
    ("resolve", {}, "resolve needs a unit on scene"),
    ("close", {}, "only resolved or false-alarm"),
    ("arrive", {}, "no unit has been dispatched"),
    ("reassign", {"unit_ids": ["u1"]}, "nothing is assigned yet"),
    ("reopen", {}, "still open"),
    ("assign", {"unit_ids": ["nope"]}, "unknown unit"),
    ("assign", {}, "needs at least one unit"),
    ("merge", {"target_incident_id": "I1"}, "into itself"),
    ("resolve", {"override": True}, "override needs a reason"),
])
def test_illegal_commands_are_refused_with_a_reason(eng: Engine, action, kw, why) -> None:
    before = eng.incidents["I1"].model_dump()
    out = eng.apply(cmd(action, "I1", **kw), 1010.0)
    assert kinds(out) == ["command_refused"]
    assert why in out.events[0].reason
    assert eng.incidents["I1"].model_dump() == before
    assert out.processed[0][2].startswith("refused")


def test_override_with_reason_allows_resolve_before_dispatch(eng: Engine) -> None:
    out = eng.apply(cmd("resolve", "I1", override=True, reason="fixed by caller"), 1010.0)
    assert kinds(out) == ["command_applied"] and eng.incidents["I1"].status is S.RESOLVED
    assert any("fixed by caller" in n["text"] for n in eng.incidents["I1"].notes)


def test_unknown_incident_refused(eng: Engine) -> None:
    out = eng.apply(cmd("acknowledge", "NOPE"), 1010.0)
    assert out.events[0].kind is K.COMMAND_REFUSED and "unknown incident" in out.events[0].reason


def test_same_command_twice_changes_nothing(eng: Engine) -> None:
    c = cmd("assign", "I1", unit_ids=["u0"])
    first = eng.apply(c, 1010.0)
    snap = eng.incidents["I1"].model_dump_json()
    second = eng.apply(c, 1020.0)
    assert first.events and second.empty
    assert eng.incidents["I1"].model_dump_json() == snap and eng.incidents["I1"].revision == 2


def test_busy_unit_needs_override_and_is_pulled_from_the_other_incident(eng: Engine) -> None:
    eng.apply(update("I2", alerts=("b1",)), 1001.0)
    eng.apply(cmd("assign", "I1", unit_ids=["u0"]), 1010.0)
    out = eng.apply(cmd("assign", "I2", unit_ids=["u0"]), 1011.0)
    assert "not available" in out.events[0].reason
    out = eng.apply(cmd("assign", "I2", unit_ids=["u0"], override=True, reason="closer fire"), 1012.0)
    assert kinds(out) == ["command_applied"]
    assert eng.incidents["I1"].assigned_units == [] and eng.incidents["I1"].status is S.ACKNOWLEDGED
    assert eng.units["u0"].incident_id == "I2"


def test_reassign_and_multi_unit(eng: Engine) -> None:
    eng.apply(cmd("assign", "I1", unit_ids=["u0", "u3"]), 1010.0)
    eng.apply(cmd("reassign", "I1", unit_ids=["u1", "u3"]), 1011.0)
    inc = eng.incidents["I1"]
    assert inc.assigned_units == ["u3", "u1"] and eng.units["u0"].free
    assert eng.units["u1"].status is UnitState.EN_ROUTE


def test_unit_status_on_scene_moves_incident(eng: Engine) -> None:
    eng.apply(cmd("assign", "I1", unit_ids=["u0"]), 1010.0)
    out = eng.apply(UnitStatus(unit_id="u0", ts=1100.0, status=UnitState.ON_SCENE, incident_id="I1"), 1100.0)
    assert eng.incidents["I1"].status is S.ON_SCENE and eng.incidents["I1"].on_scene_at == 1100.0
    assert "I1" in out.incidents
    again = eng.apply(UnitStatus(unit_id="u0", ts=1100.0, status=UnitState.ON_SCENE, incident_id="I1"), 1101.0)
    assert again.empty


def test_unknown_unit_status_is_reported_not_dropped(eng: Engine) -> None:
    out = eng.apply(UnitStatus(unit_id="ghost", ts=1.0, status=UnitState.AVAILABLE), 1.0)
    assert out.events[0].kind is K.COMMAND_REFUSED and "unknown unit ghost" in out.events[0].reason


def test_fusion_revision_applied_once_and_severity_never_drops_silently(eng: Engine) -> None:
    out = eng.apply(update("I1", rev=2, severity=4, alerts=("a1", "a2")), 1005.0)
    assert eng.incidents["I1"].severity == 4 and len(eng.incidents["I1"].evidence) == 2
    assert eng.apply(update("I1", rev=2, severity=4), 1006.0).empty
    out = eng.apply(update("I1", rev=3, severity=1, alerts=("a3",)), 1007.0)
    inc = eng.incidents["I1"]
    assert inc.severity == 4 and "kept 4" in out.events[0].reason
    assert [e.alert_id for e in inc.evidence] == ["a1", "a2", "a3"]


def test_merge_split_and_reopen_are_reversible(eng: Engine) -> None:
    eng.apply(update("I2", alerts=("b1", "b2"), severity=3), 1001.0)
    eng.apply(cmd("assign", "I2", unit_ids=["u3"]), 1002.0)
    out = eng.apply(cmd("merge", "I2", target_incident_id="I1"), 1003.0)
    assert out.events[-1].details["target_incident_id"] == "I1"
    src, tgt = eng.incidents["I2"], eng.incidents["I1"]
    assert src.status is S.MERGED and src.merged_into == "I1"
    assert {e.alert_id for e in tgt.evidence} == {"a1", "b1", "b2"} and tgt.severity == 3
    assert "u3" in tgt.assigned_units and eng.units["u3"].incident_id == "I1"
    # a merged incident refuses work except reopen / note
    assert "merged into I1" in eng.apply(cmd("escalate", "I2"), 1004.0).events[0].reason
    # split b2 back out as a new incident
    out = eng.apply(cmd("split", "I1", evidence_ids=["b2"]), 1005.0)
    new_id = out.events[-1].details["new_incident_id"]
    assert {e.alert_id for e in eng.incidents["I1"].evidence} == {"a1", "b1"}
    assert [e.alert_id for e in eng.incidents[new_id].evidence] == ["b2"]
    assert any(e.kind is K.INCIDENT_OPENED and e.incident_id == new_id for e in out.events)
    # reopen the merged source: its remaining merged evidence leaves the target again
    out = eng.apply(cmd("reopen", "I2"), 1006.0)
    assert eng.incidents["I2"].status is S.ACKNOWLEDGED and eng.incidents["I2"].merged_into is None
    assert {e.alert_id for e in eng.incidents["I1"].evidence} == {"a1"}


def test_split_refuses_taking_all_evidence(eng: Engine) -> None:
    out = eng.apply(cmd("split", "I1", evidence_ids=["a1"]), 1003.0)
    assert "nothing would remain" in out.events[0].reason


def test_sla_breach_fires_once_with_escalation_and_reminders(eng: Engine) -> None:
    # P2: acknowledge within 120 s of opening (opened at 1000)
    assert eng.tick(1119.0).empty
    out = eng.tick(1120.5)
    assert kinds(out) == ["sla_breach", "escalated"] and out.events[0].details["stage"] == "acknowledge"
    inc = eng.incidents["I1"]
    assert inc.sla_breaches == ["acknowledge"] and inc.escalated and inc.escalation_level == 1
    assert kinds(eng.tick(1121.0)) == []
    assert kinds(eng.tick(1180.0)) == ["sla_reminder"]
    assert kinds(eng.tick(1200.0)) == []
    assert kinds(eng.tick(1241.0)) == ["sla_reminder"]
    eng.apply(cmd("acknowledge", "I1"), 1250.0)
    assert "sla_reminder" not in kinds(eng.tick(1400.0))


def test_escalate_raises_priority(eng: Engine) -> None:
    out = eng.apply(cmd("escalate", "I1", reason="spreading"), 1010.0)
    assert kinds(out) == ["command_applied", "escalated"]
    assert eng.incidents["I1"].priority == 1 and eng.incidents["I1"].escalation_level == 1


def test_audit_has_actor_before_and_after(eng: Engine) -> None:
    out = eng.apply(cmd("acknowledge", "I1", actor="bob"), 1010.0)
    a = [x for x in out.audit if x.entity == "incident"][0]
    assert a.actor == "bob" and '"status":"new"' in a.before and '"status":"acknowledged"' in a.after


@pytest.mark.parametrize("policy", ["nearest", "optimised"])
def test_auto_assign_sends_the_needed_units_once_and_leaves_dispatched_incidents_to_people(eng: Engine, policy) -> None:
    from dispatch.auto import auto_assign
    from dispatch.policies import make_policy

    out = auto_assign(eng, make_policy(policy), 1010.0)
    inc = eng.incidents["I1"]
    # fire P2 needs two engines and an ambulance: the two engines and the ambulance in the fleet
    assert inc.status is S.DISPATCHED and sorted(inc.assigned_units) == ["u0", "u1", "u2"]
    ev = [e for e in out.events if e.kind is K.COMMAND_APPLIED][0]
    assert ev.actor == f"auto:{policy}"
    eng.apply(cmd("unassign", "I1", unit_ids=["u0", "u1", "u2"]), 1011.0)
    assert auto_assign(eng, make_policy(policy), 1012.0).empty  # a dispatcher took over


def test_off_shift_units_are_not_recommended_and_need_an_override() -> None:
    from dispatch.units import on_shift

    assert on_shift("08:00-20:00", 4 * 3600) and not on_shift("08:00-20:00", 13 * 3600)  # 12:00 / 21:00 UTC+8
    assert on_shift("20:00-08:00", 13 * 3600) and on_shift("24h", 0) and on_shift("garbled", 0)
    e = Engine()
    day = unit("day", UnitType.POLICE).model_copy(update={"shift": "08:00-20:00"})
    e.apply(day, 0.0)
    e.apply(unit("night", UnitType.POLICE, lat=23.5).model_copy(update={"shift": "20:00-08:00"}), 0.0)
    e.apply(update("I9", category="traffic", priority=3, ts=13 * 3600), 13 * 3600)  # 21:00 local
    assert [r["unit_id"] for r in e.incidents["I9"].recommendations] == ["night"]
    c = cmd("assign", "I9", unit_ids=["day"]).model_copy(update={"ts": 13 * 3600})
    assert "off shift" in e.apply(c, 13 * 3600).events[0].reason
    c2 = c.model_copy(update={"command_id": "x2", "override": True, "reason": "all hands"})
    assert e.apply(c2, 13 * 3600).events[0].kind is K.COMMAND_APPLIED


def test_recommendations_follow_the_fleet(eng: Engine) -> None:
    eng.apply(update("I2", alerts=("b1",)), 1001.0)
    eng.apply(cmd("assign", "I2", unit_ids=["u0"]), 1002.0)  # the nearest engine leaves
    stale = [r["unit_id"] for r in eng.incidents["I1"].recommendations]
    assert "u0" in stale
    out = eng.refresh_recommendations(1003.0)
    assert "u0" not in [r["unit_id"] for r in eng.incidents["I1"].recommendations]
    assert [e.kind for e in out.events] == [K.RECOMMENDATION] and out.events[0].incident_id == "I1"
    assert eng.refresh_recommendations(1004.0).empty  # nothing changed since
