"""Detector commands: `cityops evaluate detectors` (windows scoring on labelled series) and `cityops bench detectors`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sensors"


def register(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["evaluate"].add_parser(
        "detectors", help="windows-scored quality of the sensor anomaly detector vs a windowed Gaussian")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="the sensors data folder (../shared/data/sensors)")
    p.add_argument("--sets", nargs="*", default=None,
                   help="beijing_pm25 aarhus_parking hangzhou_metro injected artificial synthetic simulator (default: all)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a detector parameter (detectors.core.Params), for experiments")
    p.add_argument("--json", dest="json_out", default=None, help="write the results here")
    p.set_defaults(func=_evaluate)

    p = groups["bench"].add_parser("detectors", help="points/s of the series detector, readings/s of the bank")
    p.add_argument("--sizes", nargs="*", type=int, default=[1_000, 10_000, 100_000])
    p.add_argument("--json", dest="json_out", default=None, help="write the results here")
    p.set_defaults(func=_bench)


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        k, _, v = it.partition("=")
        if not _:
            raise SystemExit(f"--param wants NAME=VALUE, got {it!r}")
        out[k.strip()] = int(v) if v.strip().lstrip("-").isdigit() else float(v)
    return out


def _evaluate(args: argparse.Namespace) -> int:
    from cityops.evaluation.detectors_eval import run

    data = Path(args.data)
    if not data.is_dir():
        print(f"no data at {data}: only the synthetic set is scored")
        data = None
    run(data, args.sets, _parse_params(args.param), args.json_out)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cityops.bench.detectors import run

    run(args.json_out, args.sizes)
    return 0
