"""Dispatch commands: `dispatch` (the service), `field` (simulated units), `replay dispatch`, `evaluate dispatch`,
`bench dispatch`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams import settings as settings_mod


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["top"].add_parser("dispatch", help="run the dispatch engine (lifecycle, assignment, SLA, store)")
    p.add_argument("--store", default=None, help="SQLite path or postgresql:// URL (default: CITYOPS_STORE or var/)")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second (SLA clock)")
    p.add_argument("--simulate-field", action="store_true", help="also simulate field units (en route, on scene)")
    p.add_argument("--seed-fleet", action="store_true", default=None,
                   help="publish the default fleet when the unit registry is empty (or CITYOPS_SEED_FLEET=1)")
    p.add_argument("--auto-assign", choices=["off", "nearest", "optimised"], default="off",
                   help="assign units automatically to incidents nobody has dispatched yet")
    p.set_defaults(func=_dispatch)

    p = groups["top"].add_parser("field", help="simulated field units: report en route / on scene for assigned units")
    p.add_argument("--speedup", type=float, default=1.0)
    p.set_defaults(func=_field)

    p = groups["replay"].add_parser("dispatch", help="replay an SFFD calls-for-service export through the engine")
    p.add_argument("--calls", required=True, type=Path, help="SFFD CSV (one row per unit response)")
    p.add_argument("--policy", choices=["nearest", "optimised"], default="optimised")
    p.add_argument("--fleet-scale", type=float, default=1.0, help="keep this fraction of each unit type")
    p.add_argument("--speedup", type=float, default=0.0,
                   help="pace the replay at this many simulated seconds per wall second (0: as fast as possible)")
    p.add_argument("--no-engine", action="store_true", help="policy simulation only (skip the engine mirror)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.set_defaults(func=_replay)

    p = groups["evaluate"].add_parser("dispatch", help="nearest vs optimised over fleet scales on an SFFD export")
    p.add_argument("--calls", required=True, type=Path)
    p.add_argument("--scales", default="1,0.5,0.4,0.35,0.3,0.25", help="comma-separated fleet scales")
    p.add_argument("--engine", action="store_true", help="also run every step through the engine (slower)")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=_evaluate)

    p = groups["bench"].add_parser("dispatch", help="commands/s applied and persisted (engine + SQLite, one core)")
    p.add_argument("--commands", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=100, help="commands per store transaction (the service's poll)")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=_bench)


def _bootstrap() -> str:
    s = settings_mod.load()
    if not s.bootstrap:
        sys.exit("KAFKA_BOOTSTRAP is not set: point it at a broker (e.g. the address `cityops demo` prints)")
    return s.bootstrap


def _dispatch(args: argparse.Namespace) -> int:
    from dispatch.service import serve

    s = settings_mod.load()
    return serve(s, _bootstrap(), store_url=args.store, speedup=args.speedup, simulate_field=args.simulate_field,
                 seed_fleet=args.seed_fleet, auto_policy=args.auto_assign)


def _field(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from dispatch.field import run_field

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_field(_bootstrap(), args.speedup, stop)

    asyncio.run(main())
    return 0


def _replay(args: argparse.Namespace) -> int:
    from dispatch.replay import TARGETS_S, replay_file

    if not args.calls.exists():
        print(f"no such file: {args.calls}", file=sys.stderr)
        return 2
    try:
        res = replay_file(args.calls, args.policy, args.fleet_scale, args.speedup, use_engine=not args.no_engine)
    except ValueError as exc:
        print(f"cannot replay {args.calls}: {exc}", file=sys.stderr)
        return 2
    d = res.to_dict()
    print(f"policy {res.policy}  fleet {res.fleet_units} units (scale {res.fleet_scale})  calls {res.calls}")
    print(f"{'mean':>8} {'p50':>8} {'p90':>8} {'late':>7} {'util':>6}")
    print(f"{res.mean_response_s:8.0f} {res.p50_response_s:8.0f} {res.p90_response_s:8.0f} "
          f"{res.late_fraction:7.3f} {res.utilisation:6.2f}")
    print("late by priority: " + ", ".join(f"{p}: {v:.3f}" for p, v in res.late_by_priority.items())
          + "   targets (s): " + ", ".join(f"{p}={t:.0f}" for p, t in TARGETS_S.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(d, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from cityops.evaluation.dispatch_policies import evaluate, table

    try:
        scales = tuple(float(x) for x in args.scales.split(",") if x.strip())
        doc = evaluate(args.calls, scales, use_engine=args.engine)
    except (ValueError, OSError) as exc:
        print(f"cannot evaluate {args.calls}: {exc}", file=sys.stderr)
        return 2
    print(table(doc))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cityops.bench.dispatch_bench import run

    res = run(n_commands=args.commands, batch=args.batch)
    one = run(n_commands=max(1000, args.commands // 4), batch=1)
    doc = {**res, "single_commit": {k: one[k] for k in ("commands", "commands_per_s", "commands_per_cpu_s")}}
    print(f"{'mode':18} {'commands':>9} {'cmd/s':>9} {'cmd/cpu-s':>10}")
    print(f"{'batch=' + str(args.batch):18} {res['commands']:9d} {res['commands_per_s']:9.0f} {res['commands_per_cpu_s']:10.0f}")
    print(f"{'batch=1':18} {one['commands']:9d} {one['commands_per_s']:9.0f} {one['commands_per_cpu_s']:10.0f}")
    print(f"applied {res['applied']}, refused {res['refused']}, duplicates ignored {res['duplicates_ignored']}, "
          f"audit rows {res['audit_rows']} (SQLite, one process)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return 0
