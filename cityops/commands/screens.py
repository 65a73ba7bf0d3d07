"""Dashboard commands: `dashboard` (the server), `dashboard-user` (manage console users),
`bench dashboard` (WebSocket fan-out latency) and `bench dashboard-soak` (browser memory over time)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from streams import settings as settings_mod


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    top = groups["top"]
    p = top.add_parser("dashboard", help="serve the big screen and the incident console (prints their URLs)")
    p.add_argument("--port", type=int, default=None, help="HTTP/WebSocket port (default CITYOPS_DASHBOARD_PORT or 8765)")
    p.add_argument("--host", default=None)
    p.set_defaults(func=_dashboard)

    p = top.add_parser("dashboard-user", help="add or update a console user in the users file (CITYOPS_USERS)")
    p.add_argument("name")
    p.add_argument("role", choices=["viewer", "dispatcher", "supervisor"])
    p.add_argument("--file", type=Path, default=None, help="users file (default CITYOPS_USERS)")
    p.set_defaults(func=_user)

    p = top.add_parser("dashboard-screenshots", help="render the big screen and console with a busy simulated hour (README images)")
    p.add_argument("--out", type=Path, default=Path("artifacts"))
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=900)
    p.set_defaults(func=_screenshots)

    bench = groups["bench"]
    p = bench.add_parser("dashboard", help="N WebSocket clients on loopback: publish→client latency")
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0, help="incident updates per second")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of measured publishing")
    p.add_argument("--flush-ms", type=float, default=50.0, help="server batching interval (the default of the server)")
    p.add_argument("--json", type=Path, default=None, help="write the result here")
    p.set_defaults(func=_bench)

    p = bench.add_parser("dashboard-soak", help="headless Chromium on the big screen through hours of compressed updates: memory")
    p.add_argument("--sim-hours", type=float, default=1.0, help="simulated hours to push through the page")
    p.add_argument("--speedup", type=float, default=30.0, help="simulated seconds per wall second")
    p.add_argument("--rate", type=float, default=0.5, help="incident updates per simulated second")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=_soak)


def _dashboard(args: argparse.Namespace) -> int:
    import dataclasses

    from dashboard.app import run

    s = settings_mod.load()
    if args.port is not None:
        s = dataclasses.replace(s, dashboard_port=args.port)
    if args.host is not None:
        s = dataclasses.replace(s, dashboard_host=args.host)
    if not s.bootstrap:
        sys.exit("KAFKA_BOOTSTRAP is not set: point it at a broker (e.g. the address `cityops demo` prints)")
    asyncio.run(run(s, s.bootstrap))
    return 0


def _user(args: argparse.Namespace) -> int:
    import getpass

    from dashboard.auth import AuthError, UserStore

    path = args.file or settings_mod.load().users_file
    if not str(path) or str(path) == ".":
        sys.exit("give --file or set CITYOPS_USERS")
    store = UserStore.load(path) if path.exists() else UserStore()
    password = getpass.getpass(f"password for {args.name}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        store.add(args.name, args.role, password)
    except AuthError as exc:
        sys.exit(str(exc))
    store.save(path)
    print(f"{args.name} ({args.role}) saved in {path}")
    return 0


def _print_table(rows: dict[str, object]) -> None:
    width = max(len(k) for k in rows)
    for k, v in rows.items():
        print(f"{k:<{width}}  {v}")


def _bench(args: argparse.Namespace) -> int:
    from cityops.bench.dashboard import run_bench

    result = run_bench(args.clients, args.rate, args.duration, args.flush_ms)
    _print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _soak(args: argparse.Namespace) -> int:
    from cityops.bench.dashboard import run_soak

    result = run_soak(args.sim_hours, args.speedup, args.rate)
    _print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _screenshots(args: argparse.Namespace) -> int:
    from cityops.bench.dashboard_scene import take_screenshots

    for name, path in take_screenshots(args.out, (args.width, args.height)).items():
        print(f"{name}: {path}")
    return 0
