"""Benchmark: dispatch commands applied AND persisted per second (engine + SQLite store, one core).

A synthetic but realistic command mix over a few thousand incidents and a few hundred units: each
incident is acknowledged, gets units, they arrive, notes and escalations happen, it is resolved and
closed; about 1 in 10 commands is refused by a guard and 1 in 20 is a duplicate (at-least-once
delivery). Commands are applied by `dispatch.engine.Engine` and committed by `dispatch.store` in
batches, as the service does per consumer poll (`batch`), and once per command (`batch=1`).
`commands_per_s` is wall clock (the whole process on one core, fsyncs included); `commands_per_cpu_s`
is the same over the process's CPU time, which stays meaningful when other work shares the machine.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from dispatch.engine import Engine
from dispatch.store import Outcome, open_store
from streams.schemas import (CommandAction, DispatchCommand, EvidenceItem, IncidentUpdate, UnitInfo, UnitType)

ACTIONS = (CommandAction.ACKNOWLEDGE, CommandAction.ASSIGN, CommandAction.NOTE, CommandAction.ARRIVE,
           CommandAction.ESCALATE, CommandAction.RESOLVE, CommandAction.CLOSE)


def _fleet(n_units: int, rng: random.Random) -> list[UnitInfo]:
    types = list(UnitType)
    return [UnitInfo(unit_id=f"U{i:04d}", type=types[i % len(types)], district=f"d{i % 11}",
                     home_lat=23.0 + rng.random() * 0.4, home_lon=113.2 + rng.random() * 0.4) for i in range(n_units)]


def _incidents(n: int, rng: random.Random, t0: float) -> list[IncidentUpdate]:
    cats = ["fire", "waterlogging", "traffic", "crowd", "pipe_burst", "manhole", "public_safety"]
    out = []
    for i in range(n):
        ev = [EvidenceItem(alert_id=f"a{i}-{k}", source="sensor", ts=t0, reason="bench", cell="r010c010",
                           message_ids=[f"m{i}-{k}"]) for k in range(3)]
        out.append(IncidentUpdate(incident_id=f"B{i:06d}", revision=1, ts=t0, category=cats[i % len(cats)],
                                  severity=rng.choice([2, 3, 4]), priority=rng.choice([1, 2, 3]), cell="r010c010",
                                  district=f"d{i % 11}", lat=23.0 + rng.random() * 0.4, lon=113.2 + rng.random() * 0.4,
                                  opened_at=t0, why="bench incident", sources=["sensor"], evidence=ev))
    return out


def command_stream(n_commands: int, incidents: list[str], units: list[str], rng: random.Random,
                   t0: float) -> list[DispatchCommand]:
    """Lifecycle-ordered commands interleaved over incidents, with refusals and duplicates mixed in."""
    cmds: list[DispatchCommand] = []
    free_units = list(units)
    held: dict[str, list[str]] = {}
    window = max(1, min(100, len(units) // 3))  # incidents in progress at once (units must suffice)
    for w in range(0, len(incidents), window):
        block = incidents[w:w + window]
        step = {i: 0 for i in block}
        while any(v < len(ACTIONS) for v in step.values()):
            for iid in block:
                s = step[iid]
                if s >= len(ACTIONS):
                    continue
                action = ACTIONS[s]
                kw: dict = {}
                if rng.random() < 0.1:  # an illegal one: close too early, or arrive after the end
                    action = CommandAction.CLOSE if s < 5 else CommandAction.ARRIVE
                else:
                    step[iid] += 1
                if action is CommandAction.ASSIGN:
                    take = [free_units.pop() for _ in range(min(2, len(free_units)))] or [units[0]]
                    held[iid] = take
                    kw["unit_ids"] = take
                elif action is CommandAction.NOTE:
                    kw["note"] = "caller says water is knee-deep"
                elif action is CommandAction.RESOLVE:
                    free_units.extend(held.pop(iid, []))
                c = DispatchCommand(command_id=f"cmd{len(cmds):07d}", ts=t0 + len(cmds) * 0.01, actor="bench",
                                    action=action, incident_id=iid, **kw)
                cmds.append(c)
                if rng.random() < 0.05:
                    cmds.append(c)  # redelivered
                if len(cmds) >= n_commands:
                    return cmds[:n_commands]
    if len(cmds) < n_commands:
        raise ValueError(f"{len(incidents)} incidents cannot carry {n_commands} commands; use more incidents")
    return cmds[:n_commands]


def run(n_commands: int = 20_000, n_incidents: int = 4_000, n_units: int = 300, batch: int = 100,
        store_path: Path | None = None, seed: int = 1) -> dict:
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(store_path or Path(tmp) / "bench.sqlite"))
        eng = Engine()
        fleet = _fleet(n_units, rng)
        incs = _incidents(n_incidents, rng, t0)
        setup = Outcome()
        for m in [*fleet, *incs]:
            setup.extend(eng.apply(m, t0))
        store.commit(setup)
        cmds = command_stream(n_commands, [i.incident_id for i in incs], [u.unit_id for u in fleet], rng, t0)
        applied = refused = 0
        start, cpu0 = time.perf_counter(), time.process_time()
        for i in range(0, len(cmds), batch):
            out = Outcome()
            for c in cmds[i:i + batch]:
                o = eng.apply(c, c.ts)
                applied += sum(1 for e in o.events if e.kind.value == "command_applied")
                refused += sum(1 for e in o.events if e.kind.value == "command_refused")
                out.extend(o)
            store.commit(out)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        audit_rows = store.count("audit")
        store.close()
    return {"commands": len(cmds), "batch": batch, "seconds": round(elapsed, 3),
            "commands_per_s": round(len(cmds) / elapsed, 1), "cpu_s": round(cpu, 3),
            "commands_per_cpu_s": round(len(cmds) / max(cpu, 1e-9), 1), "applied": applied, "refused": refused,
            "duplicates_ignored": len(cmds) - applied - refused, "audit_rows": audit_rows,
            "incidents": n_incidents, "units": n_units, "store": "sqlite"}
