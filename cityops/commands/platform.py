"""Platform commands: `demo` (everything at once), `worker`, `broker`, `topics`, `produce`, `tail`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from streams import settings as settings_mod

log = logging.getLogger("cityops")


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    top = groups["top"]

    p = top.add_parser("demo", help="run the whole city: broker, worker, dispatch, dashboard, simulator")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument("--sensors", type=int, default=None, help="number of simulated sensors")
    p.add_argument("--port", type=int, default=None, help="dashboard port (default 8765)")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.set_defaults(func=_demo)

    p = groups["bench"].add_parser("join", help="consumer-group join time: client defaults vs cityops settings")
    p.add_argument("--json", dest="json_out", default=None, help="write results here")
    p.add_argument("--skip-slow", action="store_true", help="skip the 30 s Faust-defaults case")
    p.set_defaults(func=_bench_join)

    p = groups["bench"].add_parser("worker", help="readings/s through one Faust worker on the real pipeline")
    p.add_argument("--sensors", type=int, default=3000)
    p.add_argument("--minutes", type=int, default=60, help="minutes of simulated readings to process")
    p.add_argument("--json", dest="json_out", default=None)
    p.set_defaults(func=_bench_worker)

    p = top.add_parser("worker", help="run a Faust worker (validate, detect, fuse); scale by running more")
    p.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(func=_worker)

    p = top.add_parser("broker", help="run the embedded Kafka-compatible broker in the foreground")
    p.add_argument("--port", type=int, default=9092)
    p.set_defaults(func=_broker)

    p = top.add_parser("topics", help="the topic catalog: list it, or create the topics on the broker")
    p.add_argument("action", choices=["list", "create"], nargs="?", default="list")
    p.add_argument("--json", action="store_true", help="print the catalog as JSON (with schemas)")
    p.set_defaults(func=_topics)

    p = top.add_parser("produce", help="send JSON messages (one per line, stdin or arguments) to a topic")
    p.add_argument("topic")
    p.add_argument("messages", nargs="*", help="JSON documents; stdin when none")
    p.add_argument("--key", default=None, help="message key (default: the field the catalog keys by, if present)")
    p.add_argument("--validate", action="store_true", help="check each message against the topic's schema first")
    p.set_defaults(func=_produce)

    p = top.add_parser("tail", help="print a topic's messages as JSON lines")
    p.add_argument("topic")
    p.add_argument("-n", "--max", type=int, default=0, help="stop after N messages")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--timeout", type=float, default=0, help="stop after N idle seconds (0: follow forever)")
    p.set_defaults(func=_tail)


def _bootstrap_required() -> str:
    s = settings_mod.load()
    if not s.bootstrap:
        sys.exit("KAFKA_BOOTSTRAP is not set: point it at a broker (e.g. the address `cityops demo` prints)")
    return s.bootstrap


def _worker(args: argparse.Namespace) -> int:
    from streams.worker import build_worker
    from streams.app import run_worker

    run_worker(build_worker(_bootstrap_required()), args.loglevel)
    return 0


def _broker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from streams.admin import create_topics
    from streams.broker import EmbeddedBroker

    s = settings_mod.load()
    with EmbeddedBroker(port=args.port) as b:
        create_topics(b.bootstrap, s.partitions, s.replication)
        print(f"broker ready: KAFKA_BOOTSTRAP={b.bootstrap}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _topics(args: argparse.Namespace) -> int:
    from streams import catalog
    from streams.schemas import SCHEMAS

    s = settings_mod.load()
    if args.action == "create":
        from streams.admin import create_topics

        created = create_topics(_bootstrap_required(), s.partitions, s.replication)
        print(f"created {len(created)} topics" + (": " + ", ".join(created) if created else " (all existed)"))
        return 0
    if args.json:
        doc = [{"name": t.name, "key": t.key, "schema": t.schema, "schema_version": t.version,
                "partitions": t.partition_count(s.partitions), "compacted": t.compacted, "dlq": t.dlq,
                "description": t.description, "json_schema": SCHEMAS[t.schema].model_json_schema()}
               for t in catalog.TOPICS]
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(f"{'topic':28} {'key':16} {'schema':22} {'parts':>5}  {'policy':8} dead-letter")
    for t in catalog.TOPICS:
        print(f"{t.name:28} {t.key:16} {t.schema + '/v' + str(t.version):22} {t.partition_count(s.partitions):>5}  "
              f"{'compact' if t.compacted else 'delete':8} {t.dlq or '-'}")
    return 0


def _produce(args: argparse.Namespace) -> int:
    from streams.tools import produce

    lines = args.messages or [ln for ln in sys.stdin.read().splitlines() if ln.strip()]
    result = produce(_bootstrap_required(), args.topic, lines, key=args.key, validate=args.validate)
    for err in result.errors:
        print(f"refused: {err}", file=sys.stderr)
    print(f"sent {result.sent} message(s) to {args.topic}" + (f", refused {len(result.errors)}" if result.errors else ""))
    return 1 if result.errors and not result.sent else 0


def _tail(args: argparse.Namespace) -> int:
    from streams.tools import tail

    for line in tail(_bootstrap_required(), args.topic, max_messages=args.max,
                     from_beginning=args.from_beginning, idle_timeout=args.timeout):
        print(line, flush=True)
    return 0


def _bench_join(args: argparse.Namespace) -> int:
    from cityops.bench.join import run
    from streams.admin import create_topics
    from streams.broker import bootstrap_or_embedded

    s = settings_mod.load()
    with bootstrap_or_embedded(s.bootstrap) as bootstrap:
        create_topics(bootstrap, s.partitions)
        results = run(bootstrap, skip_slow=args.skip_slow)
    print(f"{'consumer-group settings':40} {'join (s)':>8}")
    for label, secs in results.items():
        print(f"{label:40} {secs:>8.2f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"join_s": results, "broker": "embedded tansu" if not s.bootstrap else s.bootstrap}, f, indent=2)
    return 0


def _bench_worker(args: argparse.Namespace) -> int:
    from cityops.bench.worker import run

    rows = [run(sensors=args.sensors, minutes=args.minutes, batching=b).as_json() for b in ("cell", "district")]
    keys = ["sensors", "readings", "messages", "seconds", "readings_per_s", "messages_per_s"]
    print(f"{'gateway batches':16}" + "".join(f"{k:>15}" for k in keys))
    for r in rows:
        print(f"{'per ' + r['batching']:16}" + "".join(f"{r[k]:>15}" for k in keys))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({r["batching"]: r for r in rows}, f, indent=2)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cityops.supervisor import Demo

    return Demo(seed=args.seed, speedup=args.speedup, sensors=args.sensors, port=args.port,
                ready_timeout=args.ready_timeout).run()
