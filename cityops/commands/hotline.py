"""Hotline commands: `hotline train|predict|evaluate` (a city's own classifier), `replay hotline`
(a real export onto city.hotline.calls), `evaluate hotline` (the quality report) and `bench hotline`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from cityops.evaluation.hotline_io import CsvError, labelled_set, split_cols

log = logging.getLogger("cityops.hotline")


def _load_model(path: str):
    from detectors.hotline.classifier import HotlineClassifier

    try:
        return HotlineClassifier.from_bytes(Path(path).read_bytes())
    except OSError as exc:
        raise CsvError(f"{path}: {exc.strerror or exc}") from exc


def _write_json(path: str | None, doc: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")


def cmd_train(args: argparse.Namespace) -> int:
    from detectors.hotline.classifier import HotlineClassifier

    text_cols, ctx_cols = split_cols(args.text), split_cols(args.context)
    if not text_cols:
        raise CsvError("--text needs at least one column name")
    data = labelled_set(args.csv, text_cols, args.label, ctx_cols, time_col="" if args.time == "none" else args.time)
    data.report_skipped(args.csv)
    if len(data.labels) < 2:
        raise CsvError(f"{args.csv}: only {len(data.labels)} usable labelled row(s)")
    unlabelled: list = []
    for u in args.unlabelled or []:
        extra = labelled_set(u, text_cols, None)
        extra.report_skipped(u)
        unlabelled += extra.texts
    model = HotlineClassifier(text_columns=text_cols, context_columns=ctx_cols, label_column=args.label,
                              threshold=args.threshold, self_training=not args.no_self_training)
    model.fit(data.texts, data.labels, data.context if ctx_cols else None, unlabelled or None,
              times=data.times if data.time_column else None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model.to_bytes())
    print(f"trained on {len(data.labels)} rows ({len(model.classes_)} labels, {len(unlabelled)} unlabelled"
          f"{f', newer rows weigh more by {data.time_column}' if model.recency_weighted_ else ''}) -> {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    ctx = dict(kv.split("=", 1) for kv in args.context or [] if "=" in kv)
    pred = model.predict(args.text, ctx or None)
    doc = {"label": pred.label, "probability": round(pred.probability, 4),
           "alternatives": [[lab, round(p, 4)] for lab, p in pred.alternatives],
           "needs_human": pred.needs_human}
    if args.routes is not None:
        from detectors.hotline.routing import Router
        from streams.hotline_model import load_router

        route = (load_router(args.routes) if args.routes else Router()).route(pred.label)
        doc["route"] = {"department": route.department, "queue": route.queue, "category": route.category}
    print(json.dumps(doc, ensure_ascii=False))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cityops.evaluation.hotline_classifier import evaluate, format_report

    model = _load_model(args.model)
    data = labelled_set(args.csv, model.text_columns, model.label_column, model.context_columns)
    data.report_skipped(args.csv)
    if not data.labels:
        raise CsvError(f"{args.csv}: no usable labelled rows")
    res = evaluate(model, data.texts, data.labels, data.context if model.context_columns else None)
    res["model"] = str(args.model)
    res["csv"] = str(args.csv)
    print(format_report(f"hotline classifier on {args.csv}", res))
    _write_json(args.json, res)
    return 0


def _guard(func):
    """Bad files are a clear one-line error and exit code 2, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (CsvError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def cmd_replay(args: argparse.Namespace) -> int:
    from streams import hotline_replay as hr
    from streams.city import load_city
    from streams.settings import load

    settings = load()
    header, rows = hr.read_export(args.csv)
    mapping = hr.MAPPINGS[args.format] if args.format else hr.detect_mapping(header)
    city = load_city(settings.city_geojson, settings.cell_m)
    move = None
    if args.place == "relocate" and mapping.lat:
        pts = [(a, b) for r in rows if (a := hr._float(r.get(mapping.lat))) is not None
               and (b := hr._float(r.get(mapping.lon))) is not None]
        if pts and not any(city.contains(a, b) for a, b in pts[:200]):
            move = hr.relocator(pts, city.bounds)
    stats = hr.ReplayStats()
    calls = hr.calls_from_rows(rows, mapping, stats, cell_at=None if args.place == "drop" else city.cell_at,
                               district_of=lambda c: city.cells[c].district, move=move, limit=args.limit)
    if args.out:
        send, close = hr.file_sender(args.out)
    else:
        bootstrap = args.bootstrap or settings.bootstrap
        if not bootstrap:
            raise CsvError("replay needs a running broker: --bootstrap HOST:PORT or KAFKA_BOOTSTRAP "
                           "(or --out FILE for a dry run)")
        send, close = hr.kafka_sender(bootstrap)
    try:
        hr.replay(calls, send, stats, speed=args.speed, rebase=not args.keep_time)
    finally:
        close()
    print(f"replay hotline ({mapping.name}): read {stats.read}, sent {stats.sent} -> "
          f"{args.out or 'city.hotline.calls'}; refused {sum(stats.refused.values())}")
    for reason, n in stats.refused.most_common(10):
        print(f"  refused {n}: {reason}")
    return 0


def cmd_evaluate_report(args: argparse.Namespace) -> int:
    from cityops.evaluation.hotline_report import run

    run(Path(args.data_dir), folds=args.folds, boston=args.boston, boston_rows=args.boston_rows, json_out=args.json)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from cityops.bench.hotline import run, table

    print(table(run(args.calls, args.batch, args.json)))
    return 0


def register(groups: dict) -> None:
    _register_tools(groups)
    r = groups["replay"].add_parser("hotline", help="replay a Boston 311 / NYC 311 / Teddy Cup export onto "
                                                    "city.hotline.calls")
    r.add_argument("--csv", required=True)
    r.add_argument("--format", choices=["boston311", "nyc311", "teddycup"], help="default: from the header")
    r.add_argument("--speed", type=float, default=60.0, help="x real time (0 = as fast as possible)")
    r.add_argument("--keep-time", action="store_true", help="keep the export's timestamps (default: start now)")
    r.add_argument("--place", choices=["relocate", "keep", "drop"], default="relocate",
                   help="foreign coordinates: map onto the city (default), keep, or drop")
    r.add_argument("--limit", type=int, default=0, help="first N calls only")
    r.add_argument("--bootstrap", default="", help="Kafka bootstrap (default KAFKA_BOOTSTRAP)")
    r.add_argument("--out", help="write JSON lines here instead of producing (dry run)")
    r.set_defaults(func=_guard(cmd_replay))

    e = groups["evaluate"].add_parser("hotline", help="hotline classifier CV, Boston queue split, recurring issues")
    e.add_argument("--data-dir", default="../shared/data/hotline", help="folder with the Teddy Cup / Boston files")
    e.add_argument("--folds", type=int, default=5)
    e.add_argument("--boston", action="store_true", help="also Boston 311 -> QUEUE (train Jan-Jun, test Jul-Aug)")
    e.add_argument("--boston-rows", type=int, default=0, help="train on the latest N rows only (0 = all)")
    e.add_argument("--json", help="write the figures here")
    e.set_defaults(func=_guard(cmd_evaluate_report))

    b = groups["bench"].add_parser("hotline", help="calls/s classified, routed and merged on one core")
    b.add_argument("--calls", type=int, default=20_000)
    b.add_argument("--batch", type=int, default=500)
    b.add_argument("--json", help="write the figures here")
    b.set_defaults(func=_guard(cmd_bench))


def _register_tools(groups: dict) -> None:
    top = groups["top"]
    p = top.add_parser("hotline", help="hotline classifier: train on a CSV, predict, evaluate")
    sub = p.add_subparsers(dest="hotline_cmd", metavar="CMD")
    sub.required = True

    t = sub.add_parser("train", help="train a classifier on a labelled CSV and save the model")
    t.add_argument("--csv", required=True, help="labelled CSV (UTF-8, UTF-8 with BOM or GB18030)")
    t.add_argument("--text", required=True, help="text column(s), comma-separated (e.g. title,body)")
    t.add_argument("--context", default="", help="categorical context columns, comma-separated")
    t.add_argument("--label", required=True, help="label column")
    t.add_argument("--out", required=True, help="model file to write")
    t.add_argument("--unlabelled", action="append", help="CSV of unlabelled history with the same text "
                   "column(s); used for vocabulary and self-training (repeatable)")
    t.add_argument("--threshold", type=float, default=0.5, help="below this probability: needs a human")
    t.add_argument("--no-self-training", action="store_true")
    t.add_argument("--time", default="auto", help="time column: newer rows weigh more (half-life 60 days); "
                   "'auto' = a known export's (OPEN_DT, Created Date, 留言时间), 'none' = all rows equal")
    t.set_defaults(func=_guard(cmd_train))

    q = sub.add_parser("predict", help="classify one text")
    q.add_argument("--model", required=True)
    q.add_argument("--context", action="append", metavar="COL=VALUE", help="a context value (repeatable)")
    q.add_argument("--routes", nargs="?", const="", default=None, metavar="FILE",
                   help="also route the label: the default table, or FILE (JSON/CSV) over it")
    q.add_argument("text")
    q.set_defaults(func=_guard(cmd_predict))

    e = sub.add_parser("evaluate", help="accuracy / macro-F1 of a model on a labelled CSV")
    e.add_argument("--model", required=True)
    e.add_argument("--csv", required=True)
    e.add_argument("--json", help="write the figures here")
    e.set_defaults(func=_guard(cmd_evaluate))
