"""City commands: `simulate` (the simulated city through Kafka); `evaluate city` joins this family later.

Layout note for co-authors: each sub-command registers in its own `_register_<name>(groups)`
function called from `register(groups)` — `_register_simulate` belongs to the simulator;
`evaluate city` goes in its own `_register_evaluate_city(groups)` next to it.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time

from streams import settings as settings_mod

log = logging.getLogger("cityops.simulate")


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    _register_simulate(groups)
    _register_evaluate_city(groups)


def duration_s(text: str) -> float:
    """'3600', '90s', '30m', '6h', '7d' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 3600, 30m, 6h, 7d)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


# ------------------------------------------------------------------ simulate

def _register_simulate(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["top"].add_parser(
        "simulate", help="run the simulated city (sensors, cameras, hotline, labelled scenarios) into Kafka")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default: $KAFKA_BOOTSTRAP)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--sensors", type=int, default=3000, help="number of sensors (default 3000)")
    p.add_argument("--cameras", type=int, default=300, help="number of cameras (default 300)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between a sensor's readings (60)")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second (1)")
    p.add_argument("--duration", type=duration_s, default=None,
                   help="simulated time to run (e.g. 6h, 7d); default: forever")
    p.add_argument("--scenarios", type=int, default=None,
                   help="scenarios over the run (default: 24 per simulated day)")
    p.add_argument("--scenario-types", default=None,
                   help="comma-separated subset of: waterlogging, building_fire, air_pollution, traffic_jam, "
                        "crowd_surge, pipe_burst, sensor_fault, noise_only (default: all)")
    p.add_argument("--calls-per-hour", type=float, default=240.0, help="routine hotline calls per hour (240)")
    p.add_argument("--video-rate", type=float, default=0.5,
                   help="background video events per camera per hour (0.5)")
    p.add_argument("--warmup", type=duration_s, default=1800.0,
                   help="simulated history produced at full speed before the paced run, so detectors start "
                        "with a baseline (default 30m; 0 to disable)")
    p.add_argument("--kickoff", default="waterlogging",
                   help="when running live (no --duration), one strong scenario of this type already under way "
                        "as the paced run begins, so the screen shows an incident within minutes; 'none' to disable")
    p.add_argument("--truth", default=None, help="also append the scenarios' ground truth to this JSONL file")
    p.set_defaults(func=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streams.city import load_city
    from streams.runtime import mark_ready
    from streams.simulator import Simulator
    from streams.simulator.producer import rates_table, run, sim_start
    from streams.simulator.scenarios import ALIASES, TYPES

    # kafka-python 3 warns whenever a send loop holds its selector >100 ms: noise for a bulk producer
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    s = settings_mod.load()
    bootstrap = args.bootstrap or s.bootstrap
    if not bootstrap:
        print("no broker: pass --bootstrap or set KAFKA_BOOTSTRAP (e.g. the address `cityops demo` prints)",
              file=sys.stderr)
        return 2
    if args.speedup <= 0 or args.interval <= 0 or args.sensors < 1 or args.cameras < 0:
        print("--speedup and --interval must be > 0, --sensors >= 1, --cameras >= 0", file=sys.stderr)
        return 2
    types = None
    if args.scenario_types:
        types = [ALIASES.get(t.strip(), t.strip()) for t in args.scenario_types.split(",") if t.strip()]
        bad = [t for t in types if t not in TYPES]
        if bad:
            print(f"unknown scenario type(s): {', '.join(bad)}; one of {', '.join(TYPES)}", file=sys.stderr)
            return 2

    city = load_city(s.city_geojson, s.cell_m)
    sim = Simulator(city, seed=args.seed, n_sensors=args.sensors, n_cameras=args.cameras,
                    interval_s=args.interval, calls_per_hour=args.calls_per_hour,
                    video_per_camera_hour=args.video_rate)
    start = sim_start(time.time(), args.speedup, args.duration, args.interval)
    sim.start = start
    window = args.duration if args.duration is not None else 86_400.0
    n = args.scenarios if args.scenarios is not None else max(1, round(24 * window / 86_400.0))
    if args.duration is None and args.kickoff != "none":
        _kickoff(sim, args.kickoff, start - min(480.0, args.warmup))
    sim.schedule(n, args.seed, window, start=start, types=types)
    horizon = [start + window]

    def reschedule(t: float) -> None:  # a forever-run plans the next day before it needs it
        if args.duration is None and t > horizon[0] - 3600:
            sim.schedule(n, args.seed + int(horizon[0] // 86_400), 86_400.0, start=horizon[0], types=types)
            horizon[0] += 86_400.0

    print(f"simulating {city.name}: {len(sim.world.sensors)} sensors in {len(sim.world.by_cell)} cells, "
          f"{len(sim.world.cameras)} cameras, {len(sim.world.stations)} metro stations, seed {args.seed}, "
          f"interval {args.interval:g} s, speedup {args.speedup:g}x, {len(sim.scenarios)} scenarios planned",
          flush=True)
    print(rates_table(sim, args.speedup), flush=True)
    print(f"bootstrap {bootstrap}; sim time starts {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(start))} UTC",
          flush=True)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stats = run(sim, bootstrap, speedup=args.speedup, duration=args.duration, start=start,
                    warmup_s=args.warmup, truth_path=Path(args.truth) if args.truth else None,
                    partitions=s.partitions, stop=stop, on_ready=lambda: mark_ready("simulator", s),
                    reschedule=reschedule)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sent = ", ".join(f"{k} {v}" for k, v in stats.sent.items())
    print(f"done: simulated {stats.sim_end - stats.sim_start:.0f} s; sent {sent}; {stats.truth} scenarios started",
          flush=True)
    return 0


def _kickoff(sim, kind: str, at: float) -> None:
    """One strong scenario early in a live run, at the most urban cell that has its primary sensor."""
    from streams.simulator.scenarios import ALIASES, PRIMARY_KIND

    kind = ALIASES.get(kind, kind)
    pk = PRIMARY_KIND.get(kind)
    cells = sim.world.cells_with(pk) if pk else list(sim.world.by_cell)
    if kind == "crowd_surge":
        cells = [c for c in cells if c in set(sim.world.stations)]
    if not cells:
        return
    cell = max(cells, key=lambda c: (c in sim.world.cameras_by_cell, sim.world.urbanity[c]))
    truth = sim.inject(kind, cell, at, 0.85)
    print(f"kickoff: {truth.type} at {truth.details.get('place')} ({cell}), started "
          f"{time.strftime('%H:%M:%S', time.gmtime(at))} UTC", flush=True)


# ------------------------------------------------------------------ evaluate city (fusion)

def _register_evaluate_city(groups: dict[str, argparse._SubParsersAction]) -> None:
    from pathlib import Path

    p = groups["evaluate"].add_parser(
        "city", help="inject labelled scenarios into a simulated city, run the real pipeline, score the incidents")
    p.add_argument("--scenarios", type=int, default=210, help="scenarios to inject (default 210)")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--days", type=float, default=7.0, help="simulated days (default a week)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the report as JSON here")
    p.add_argument("--sensors", type=int, default=3000)
    p.add_argument("--cameras", type=int, default=300)
    p.add_argument("--interval", type=float, default=120.0, help="seconds between readings of one sensor (120)")
    p.add_argument("--slack", type=float, default=1800.0, help="seconds of slack around a scenario's [start, end]")
    p.add_argument("--speedup", type=float, nargs="?", const=0.0, default=0.0,
                   help="simulated seconds per wall second (no value or 0: as fast as the worker keeps up)")
    p.add_argument("--warmup-days", type=float, default=0.0,
                   help="days of the city's life the detectors learn before the evaluated week (default 0: cold)")
    p.add_argument("--in-process", action="store_true",
                   help="run the same stages without Kafka (fast, for tuning; report figures from the default mode)")
    p.set_defaults(func=_evaluate_city)


def _evaluate_city(args: argparse.Namespace) -> int:
    from cityops.evaluation.city import CityEvalConfig, evaluate, table

    if args.scenarios < 1 or args.days <= 0 or args.interval <= 0 or args.warmup_days < 0:
        print("--scenarios must be >= 1, --days and --interval > 0, --warmup-days >= 0", file=sys.stderr)
        return 2
    cfg = CityEvalConfig(scenarios=args.scenarios, seed=args.seed, days=args.days, sensors=args.sensors,
                         cameras=args.cameras, interval_s=args.interval, slack_s=args.slack, speedup=args.speedup,
                         warmup_days=args.warmup_days)
    # SIGTERM unwinds like Ctrl-C so the worker subprocess and the embedded broker are stopped
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    report = evaluate(cfg, in_process=args.in_process, json_out=args.json,
                      progress=lambda s: print(s, file=sys.stderr, flush=True))
    mode = "in-process (for tuning only)" if args.in_process else "real pipeline: embedded broker + cityops worker"
    print(f"evaluate city: seed {args.seed}, {args.scenarios} scenarios, {args.days:g} days after "
          f"{args.warmup_days:g} days of warm-up, {mode}")
    print(table(report))
    if args.json:
        print(f"JSON written to {args.json}")
    return 0
