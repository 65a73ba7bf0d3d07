"""Dispatch store: SQLite and PostgreSQL persist, reload and audit identically (parametrised)."""

from __future__ import annotations

import json

import pytest

from dispatch.engine import Engine
from dispatch.store import Store, open_store
from streams import catalog
from streams.schemas import UnitType

from tests.dispatch_helpers import cmd, fresh_prefix, postgres_url, unit, update


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        s = open_store(str(tmp_path / "dispatch.sqlite"))
    else:
        s = open_store(postgres_url(), prefix=fresh_prefix())
    yield s
    if s.dialect == "postgresql":
        s.drop()
    s.close()


def reopen(s: Store, tmp_path) -> Store:
    if s.dialect == "sqlite":
        return open_store(str(tmp_path / "dispatch.sqlite"))
    return open_store(postgres_url(), prefix=s.p)


def scenario(e: Engine, s: Store) -> None:
    inputs = [unit("u1"), unit("u2", UnitType.AMBULANCE), update("I1"), update("I2", alerts=("b1",)),
              cmd("acknowledge", "I1", cid="k1"), cmd("assign", "I1", cid="k2", unit_ids=["u1", "u2"]),
              cmd("resolve", "I1", cid="k3"),  # refused: nobody on scene
              cmd("merge", "I2", cid="k4", target_incident_id="I1"), update("I1", rev=2, severity=3)]
    for i, m in enumerate(inputs):
        s.commit(e.apply(m, 1000.0 + i))


def test_state_survives_reopen_and_duplicates_stay_applied_once(store: Store, tmp_path) -> None:
    e = Engine()
    e.load(store.load())
    scenario(e, store)
    s2 = reopen(store, tmp_path)
    e2 = Engine()
    e2.load(s2.load())
    assert {k: v.model_dump() for k, v in e2.incidents.items()} == {k: v.model_dump() for k, v in e.incidents.items()}
    assert e2.fusion_revisions == {"I1": 2, "I2": 1}
    assert {"k1", "k2", "k3", "k4"} <= e2.processed
    assert e2.units["u1"].incident_id == "I1"
    # the same command and fusion revision again after the restart: nothing happens
    assert e2.apply(cmd("assign", "I1", cid="k2", unit_ids=["u1"]), 2000.0).empty
    assert e2.apply(update("I1", rev=2, severity=3), 2000.0).empty
    assert e2.open_ids == {"I1"}
    if s2 is not store:
        s2.close()


def test_audit_is_append_only_with_actor_before_after(store: Store) -> None:
    e = Engine()
    scenario(e, store)
    rows = store.audit("I1")
    actions = [r.action for r in rows]
    assert actions[:3] == ["open", "acknowledge", "assign"]
    ack = rows[1]
    assert ack.actor == "alice" and ack.command_id == "k1"
    assert json.loads(ack.before)["status"] == "new" and json.loads(ack.after)["status"] == "acknowledged"
    assert rows[0].before is None
    n = store.count("audit")
    store.commit(e.apply(cmd("note", "I1", note="hello"), 3000.0))
    assert store.count("audit") == n + 1


def test_outbox_holds_events_and_incidents_until_sent(store: Store) -> None:
    e = Engine()
    scenario(e, store)
    rows = store.outbox()
    topics = {t for _, t, _, _ in rows}
    assert topics == {catalog.DISPATCH_EVENTS.name, catalog.INCIDENTS.name}
    refused = [json.loads(v) for _, t, _, v in rows if t == catalog.DISPATCH_EVENTS.name
               and json.loads(v)["kind"] == "command_refused"]
    assert refused and "on scene" in refused[0]["reason"]
    store.sent(rows[len(rows) // 2][0])
    assert len(store.outbox()) == len(rows) - len(rows) // 2 - 1
    store.sent(rows[-1][0])
    assert store.outbox() == []


def test_sqlite_and_postgresql_end_in_the_same_state(tmp_path) -> None:
    results = []
    for s in (open_store(str(tmp_path / "a.sqlite")), open_store(postgres_url(), prefix=fresh_prefix())):
        try:
            scenario(Engine(), s)
            e = Engine()
            e.load(s.load())
            audit = [(a.actor, a.entity, a.entity_id, a.action, a.command_id, a.before, a.after) for a in s.audit()]
            results.append(({k: v.model_dump() for k, v in e.incidents.items()}, audit,
                            [(t, k, v) for _, t, k, v in s.outbox()]))
        finally:
            if s.dialect == "postgresql":
                s.drop()
            s.close()
    assert results[0] == results[1]
