"""The `cityops` command: one entry point that composes the packages.

Each command family lives in `cityops/commands/<family>.py` and adds its sub-commands through
`register(groups)`, where `groups` holds the top-level sub-parsers and the shared groups
`evaluate`, `bench` and `replay` that several families extend.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

FAMILIES = ["platform", "detect", "hotline", "dispatching", "screens", "city"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityops", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True
    groups: dict[str, argparse._SubParsersAction] = {"top": top}
    for name, help_ in [("evaluate", "measure quality: print a table, write JSON"),
                        ("bench", "measure speed: print a table, write JSON"),
                        ("replay", "replay real historical data")]:
        p = top.add_parser(name, help=help_)
        sub = p.add_subparsers(dest="what", metavar="WHAT")
        sub.required = True
        groups[name] = sub
    for fam in FAMILIES:
        try:
            mod = importlib.import_module(f"cityops.commands.{fam}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cityops.commands.{fam}":
                continue  # family not built yet
            raise
        mod.register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, os.environ.get("CITYOPS_LOG", "INFO")),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("kafka", "aiokafka", "faust", "mode", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
