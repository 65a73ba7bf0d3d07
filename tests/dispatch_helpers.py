"""Small builders shared by the dispatch tests: units, fusion updates, commands, a PostgreSQL URL."""

from __future__ import annotations

import itertools
import subprocess
import uuid
from pathlib import Path

import pytest

from streams.schemas import CommandAction, DispatchCommand, EvidenceItem, IncidentUpdate, UnitInfo, UnitType

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
_ids = itertools.count(1)


def unit(uid: str, utype: UnitType = UnitType.FIRE_ENGINE, lat: float = 23.13, lon: float = 113.26,
         district: str = "d1") -> UnitInfo:
    return UnitInfo(unit_id=uid, type=utype, district=district, home_lat=lat, home_lon=lon)


def update(iid: str, rev: int = 1, severity: int = 2, priority: int = 2, category: str = "fire",
           alerts: tuple[str, ...] = ("a1",), ts: float = 1000.0) -> IncidentUpdate:
    ev = [EvidenceItem(alert_id=a, source="sensor", ts=ts, reason=f"evidence {a}", cell="r001c001",
                       message_ids=[f"m-{a}"]) for a in alerts]
    return IncidentUpdate(incident_id=iid, revision=rev, ts=ts, category=category, severity=severity,
                          priority=priority, cell="r001c001", district="d1", lat=23.131, lon=113.262,
                          opened_at=ts, why="smoke sensors agree", sources=["sensor"], evidence=ev)


def cmd(action: str, iid: str, cid: str | None = None, **kw) -> DispatchCommand:
    return DispatchCommand(command_id=cid or f"c{next(_ids)}", ts=1000.0, actor=kw.pop("actor", "alice"),
                           action=CommandAction(action), incident_id=iid, **kw)


def postgres_url() -> str:
    """The test database, starting the local cluster once if it is down; fails (never skips) if unreachable."""
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
        return PG_URL
    except psycopg.OperationalError:
        pass
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    for v in versions:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "start"],
                       capture_output=True, timeout=60)
    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} unreachable even after trying to start it: {exc}")
    return PG_URL


def fresh_prefix() -> str:
    """A table prefix unique to this run, so concurrent runs on one database never collide."""
    return f"t{uuid.uuid4().hex[:12]}_"
