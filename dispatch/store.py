"""The durable record of dispatch: incidents, units, processed ids, the audit log and the outbox.

SQLite (a file path, the default) or PostgreSQL (a `postgresql://` URL, through psycopg 3), with the
same schema and behaviour. Everything one batch of inputs changed is written in ONE transaction:
incident states, unit states, the ids of the commands and updates consumed (idempotency), append-only
audit rows (actor, time, before, after) and the messages still to publish (the outbox). The service
commits consumer offsets only after that, and deletes outbox rows only after they were sent, so a
kill -9 at any point loses nothing and applies nothing twice.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from streams import catalog
from streams.schemas import DispatchEvent, Incident, encode

from dispatch.units import UnitRecord


@dataclass
class AuditEntry:
    ts: float
    actor: str
    entity: str  # "incident" or "unit"
    entity_id: str
    action: str
    command_id: str | None
    before: str | None  # JSON of the state before, None when created
    after: str | None


@dataclass
class Outcome:
    """Everything one input (or a batch of them) changed; what the store persists and the service publishes."""

    events: list[DispatchEvent] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)  # latest state of each changed incident
    fusion_revisions: dict[str, int] = field(default_factory=dict)
    units: dict[str, UnitRecord] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    processed: list[tuple[str, float, str]] = field(default_factory=list)  # (id, ts, outcome)

    def extend(self, other: "Outcome") -> "Outcome":
        self.events.extend(other.events)
        self.incidents.update(other.incidents)
        self.fusion_revisions.update(other.fusion_revisions)
        self.units.update(other.units)
        self.audit.extend(other.audit)
        self.processed.extend(other.processed)
        return self

    @property
    def empty(self) -> bool:
        return not (self.events or self.incidents or self.units or self.audit or self.processed)


@dataclass
class Snapshot:
    incidents: dict[str, Incident]
    fusion_revisions: dict[str, int]
    units: dict[str, UnitRecord]
    processed: set[str]


_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Store:
    """One backend-neutral store; `open_store(url)` picks SQLite or PostgreSQL."""

    def __init__(self, conn, dialect: str, prefix: str = "") -> None:
        if prefix and not _SAFE.match(prefix):
            raise ValueError(f"table prefix must be an identifier, got {prefix!r}")
        self.conn = conn
        self.dialect = dialect
        self.p = prefix
        self._create()

    # -- plumbing ----------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        sql = sql.replace("{p}", self.p)
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _create(self) -> None:
        serial = "BIGSERIAL PRIMARY KEY" if self.dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
        stmts = [
            "CREATE TABLE IF NOT EXISTS {p}incidents (incident_id TEXT PRIMARY KEY, status TEXT NOT NULL, "
            "revision BIGINT NOT NULL, fusion_revision BIGINT NOT NULL DEFAULT 0, updated_at DOUBLE PRECISION, body TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {p}units (unit_id TEXT PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {p}processed (id TEXT PRIMARY KEY, ts DOUBLE PRECISION, outcome TEXT)",
            f"CREATE TABLE IF NOT EXISTS {{p}}audit (seq {serial}, ts DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, "
            "entity TEXT NOT NULL, entity_id TEXT NOT NULL, action TEXT NOT NULL, command_id TEXT, before TEXT, after TEXT)",
            "CREATE INDEX IF NOT EXISTS {p}audit_entity ON {p}audit (entity_id)",
            f"CREATE TABLE IF NOT EXISTS {{p}}outbox (seq {serial}, topic TEXT NOT NULL, msg_key TEXT, value TEXT NOT NULL)",
        ]
        cur = self.conn.cursor()
        for s in stmts:
            cur.execute(self._sql(s))
        self.conn.commit()

    # -- reading -----------------------------------------------------------------------------
    def load(self) -> Snapshot:
        cur = self.conn.cursor()
        cur.execute(self._sql("SELECT body, fusion_revision FROM {p}incidents"))
        incidents, revs = {}, {}
        for body, frev in cur.fetchall():
            inc = Incident.model_validate_json(body)
            incidents[inc.incident_id] = inc
            revs[inc.incident_id] = int(frev)
        cur.execute(self._sql("SELECT body FROM {p}units"))
        units = {u.unit_id: u for u in (UnitRecord.from_json(b) for (b,) in cur.fetchall())}
        cur.execute(self._sql("SELECT id FROM {p}processed"))
        processed = {r[0] for r in cur.fetchall()}
        self.conn.commit()
        return Snapshot(incidents, revs, units, processed)

    def audit(self, entity_id: str | None = None) -> list[AuditEntry]:
        cur = self.conn.cursor()
        q = "SELECT ts, actor, entity, entity_id, action, command_id, before, after FROM {p}audit"
        if entity_id is None:
            cur.execute(self._sql(q + " ORDER BY seq"))
        else:
            cur.execute(self._sql(q + " WHERE entity_id = ? ORDER BY seq"), (entity_id,))
        rows = [AuditEntry(*r) for r in cur.fetchall()]
        self.conn.commit()
        return rows

    def outbox(self, limit: int = 10_000) -> list[tuple[int, str, str | None, str]]:
        """Messages persisted but not yet confirmed sent, oldest first: (seq, topic, key, value)."""
        cur = self.conn.cursor()
        cur.execute(self._sql("SELECT seq, topic, msg_key, value FROM {p}outbox ORDER BY seq LIMIT ?"), (limit,))
        rows = [(int(a), b, c, d) for a, b, c, d in cur.fetchall()]
        self.conn.commit()
        return rows

    def count(self, table: str) -> int:
        if table not in ("incidents", "units", "processed", "audit", "outbox"):
            raise ValueError(table)
        cur = self.conn.cursor()
        cur.execute(self._sql(f"SELECT COUNT(*) FROM {{p}}{table}"))
        n = int(cur.fetchone()[0])
        self.conn.commit()
        return n

    # -- writing -----------------------------------------------------------------------------
    def commit(self, out: Outcome) -> None:
        """Persist one outcome (usually a whole consumer batch) atomically, outbox included."""
        if out.empty:
            return
        frevs = out.fusion_revisions
        cur = self.conn.cursor()
        try:
            bodies = {i.incident_id: i.model_dump_json() for i in out.incidents.values()}
            if out.incidents:
                cur.executemany(self._sql(
                    "INSERT INTO {p}incidents (incident_id, status, revision, fusion_revision, updated_at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET status = excluded.status, "
                    "revision = excluded.revision, fusion_revision = excluded.fusion_revision, "
                    "updated_at = excluded.updated_at, body = excluded.body"),
                    [(i.incident_id, i.status.value, i.revision, frevs.get(i.incident_id, 0), i.updated_at,
                      bodies[i.incident_id]) for i in out.incidents.values()])
            if out.units:
                cur.executemany(self._sql(
                    "INSERT INTO {p}units (unit_id, body) VALUES (?, ?) "
                    "ON CONFLICT (unit_id) DO UPDATE SET body = excluded.body"),
                    [(u.unit_id, u.to_json()) for u in out.units.values()])
            if out.processed:
                cur.executemany(self._sql("INSERT INTO {p}processed (id, ts, outcome) VALUES (?, ?, ?) "
                                          "ON CONFLICT (id) DO NOTHING"), out.processed)
            if out.audit:
                cur.executemany(self._sql(
                    "INSERT INTO {p}audit (ts, actor, entity, entity_id, action, command_id, before, after) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                    [(a.ts, a.actor, a.entity, a.entity_id, a.action, a.command_id, a.before, a.after)
                     for a in out.audit])
            rows = [(catalog.DISPATCH_EVENTS.name, e.incident_id or None, encode(e).decode()) for e in out.events]
            # the wire form (`encode`) is exactly this JSON: reuse it
            rows += [(catalog.INCIDENTS.name, iid, body) for iid, body in bodies.items()]
            if rows:
                cur.executemany(self._sql("INSERT INTO {p}outbox (topic, msg_key, value) VALUES (?, ?, ?)"), rows)
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise

    def sent(self, up_to_seq: int) -> None:
        """Forget outbox rows up to `up_to_seq` once the broker acknowledged them."""
        cur = self.conn.cursor()
        cur.execute(self._sql("DELETE FROM {p}outbox WHERE seq <= ?"), (up_to_seq,))
        self.conn.commit()

    def drop(self) -> None:
        """Remove this store's tables (tests use it to clean up their PostgreSQL prefix)."""
        cur = self.conn.cursor()
        for t in ("incidents", "units", "processed", "audit", "outbox"):
            cur.execute(self._sql(f"DROP TABLE IF EXISTS {{p}}{t}"))
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def open_store(url: str, prefix: str = "") -> Store:
    """A store at `url`: `postgresql://...` (or `postgres://`) or a SQLite file path (`sqlite:///x` too)."""
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        return Store(psycopg.connect(url), "postgresql", prefix)
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    # WAL + NORMAL: a committed transaction survives a killed process (not necessarily a power cut).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return Store(conn, "sqlite", prefix)

