"""The dispatch service as a real process against the real broker: kill -9 mid-stream, restart, nothing lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from streams import catalog
from streams.schemas import DispatchCommand, encode

from tests.dispatch_helpers import cmd, unit, update

pytestmark = pytest.mark.e2e

N_INCIDENTS = 12
NOTES = 6


def _start(tmp: Path, bootstrap: str, app_id: str) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "CITYOPS_APP_ID": app_id, "CITYOPS_SESSION_TIMEOUT": "2",
           "CITYOPS_HEARTBEAT": "0.5", "CITYOPS_VAR": str(tmp), "CITYOPS_RUN_DIR": str(tmp / "run"),
           "CITYOPS_SEED_FLEET": "0", "CITYOPS_LOG": "INFO"}
    (tmp / "run" / "dispatch.ready").unlink(missing_ok=True)
    log = open(tmp / "dispatch.log", "ab")
    p = subprocess.Popen([sys.executable, "-m", "cityops.cli", "dispatch", "--store", str(tmp / "d.sqlite")],
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (tmp / "run" / "dispatch.ready").exists():
        assert p.poll() is None, (tmp / "dispatch.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "dispatch did not get ready"
        time.sleep(0.1)
    return p


def _processed(db: Path, prefix: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        try:
            return c.execute("SELECT COUNT(*) FROM processed WHERE id LIKE ?", (prefix + "%",)).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_kill_9_and_restart_loses_nothing_and_applies_nothing_twice(broker: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    prod = KafkaProducer(bootstrap_servers=broker, linger_ms=5)
    units = [unit(f"{run}-u{i}", lat=23.1 + 0.01 * i) for i in range(4)]
    for u in units:
        prod.send(catalog.REGISTRY_UNITS.name, key=u.unit_id.encode(), value=encode(u))
    iids = [f"{run}-I{i}" for i in range(N_INCIDENTS)]
    for iid in iids:
        prod.send(catalog.FUSION_UPDATES.name, key=iid.encode(), value=encode(update(iid, ts=time.time())))
    prod.flush()

    commands: list[DispatchCommand] = []
    for iid in iids:
        commands.append(cmd("acknowledge", iid, cid=f"{run}:{iid}:ack"))
        commands += [cmd("note", iid, cid=f"{run}:{iid}:n{k}", note=f"note {k}") for k in range(NOTES)]
        commands.append(cmd("resolve", iid, cid=f"{run}:{iid}:bad"))  # refused: nobody on scene
    stream = [c for c in commands for _ in (0, 1)]  # every command delivered twice (at-least-once upstream)

    db = tmp_path / "d.sqlite"
    proc = _start(tmp_path, broker, f"t{run}")
    killed = threading.Event()

    def send(msgs: list[DispatchCommand], pause: float) -> None:
        for i, c in enumerate(msgs):
            prod.send(catalog.DISPATCH_COMMANDS.name, key=c.incident_id.encode(), value=encode(c))
            if i % 5 == 4:
                prod.flush()
                time.sleep(pause)
        prod.flush()

    def opened() -> int:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            try:
                return c.execute("SELECT COUNT(*) FROM incidents WHERE incident_id LIKE ?", (run + "%",)).fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    # the console only commands incidents it has seen: wait until they are open
    _wait(lambda: opened() == N_INCIDENTS, 60, "the incidents to open")
    first, rest = stream[:len(stream) // 3], stream[len(stream) // 3:]
    send(first, 0.0)
    _wait(lambda: _processed(db, run) >= len(commands) // 5, 60, "the first commands")
    sender = threading.Thread(target=send, args=(rest, 0.05))
    sender.start()
    try:
        time.sleep(0.4)
        proc.send_signal(signal.SIGKILL)  # kill -9 mid-stream
        proc.wait(10)
        killed.set()
        done_before = _processed(db, run)
        assert done_before < len(commands), "the kill came too late to test anything"
        sender.join(60)
        prod.send(catalog.DISPATCH_COMMANDS.name, key=b"x", value=b"{not json")  # bad input: DLQ, not a crash
        prod.flush()
        proc = _start(tmp_path, broker, f"t{run}")
        _wait(lambda: _processed(db, run) == len(commands), 90, "all commands after the restart")
        time.sleep(1.0)  # let any re-delivered duplicates arrive; they must change nothing
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        prod.close()

    with sqlite3.connect(db) as c:
        rows = dict(c.execute("SELECT incident_id, body FROM incidents WHERE incident_id LIKE ?", (run + "%",)))
        audit = c.execute("SELECT entity_id, action, command_id FROM audit WHERE entity = 'incident' AND entity_id LIKE ?",
                          (run + "%",)).fetchall()
        outcomes = dict(c.execute("SELECT id, outcome FROM processed WHERE id LIKE ?", (run + "%",)))
    assert set(rows) == set(iids)
    for iid in iids:
        inc = json.loads(rows[iid])
        assert inc["status"] == "acknowledged"
        assert [n["text"] for n in inc["notes"]] == [f"note {k}" for k in range(NOTES)]  # each exactly once
        assert inc["revision"] == 1 + 1 + NOTES
        assert outcomes[f"{run}:{iid}:bad"].startswith("refused")
    # one audit row per change: the opening, the acknowledgement, the notes
    assert len(audit) == N_INCIDENTS * (2 + NOTES)
    assert len({a[2] for a in audit if a[2]}) == N_INCIDENTS * (1 + NOTES)

    # every command's outcome reached city.dispatch.events (re-sends keep the same event id)
    events = _read(broker, catalog.DISPATCH_EVENTS.name, lambda d: d.get("incident_id", "").startswith(run))
    by_cmd: dict[str, set[str]] = {}
    for e in events:
        if e.get("command_id"):
            by_cmd.setdefault(e["command_id"], set()).add(e["event_id"])
    assert set(by_cmd) == {c.command_id for c in commands}
    assert all(len(v) == 1 for v in by_cmd.values())
    latest: dict[str, int] = {}
    for d in _read(broker, catalog.INCIDENTS.name, lambda d: d.get("incident_id", "").startswith(run)):
        latest[d["incident_id"]] = max(latest.get(d["incident_id"], 0), d["revision"])
    assert latest == {iid: 2 + NOTES for iid in iids}
    dlq = _read(broker, catalog.DISPATCH_COMMANDS.dlq or "", lambda d: True)
    assert any("unreadable DispatchCommand" in d["reason"] for d in dlq)
    assert killed.is_set()


def _read(broker: str, topic: str, keep) -> list[dict]:
    c = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", enable_auto_commit=False,
                      group_id=None, consumer_timeout_ms=2500)
    try:
        out = []
        for m in c:
            try:
                d = json.loads(m.value)
            except ValueError:
                continue  # the session broker is shared: other tests put deliberate junk on topics
            if keep(d):
                out.append(d)
        return out
    finally:
        c.close()
