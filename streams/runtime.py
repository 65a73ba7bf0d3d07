"""Process plumbing shared by every cityops service: readiness markers for the demo supervisor."""

from __future__ import annotations

import os
from pathlib import Path

from streams.settings import Settings


def run_dir(settings: Settings) -> Path:
    d = Path(os.environ.get("CITYOPS_RUN_DIR", str(settings.var_dir / "run")))
    d.mkdir(parents=True, exist_ok=True)
    return d


def mark_ready(name: str, settings: Settings) -> None:
    """Tell the supervisor (`cityops demo`) that service `name` is up; idempotent."""
    (run_dir(settings) / f"{name}.ready").touch()


def record_assignment(name: str, settings: Settings, partitions: dict[str, list[int]]) -> None:
    """Write which partitions this process holds (`<name>.<pid>.assignment.json`), for operators and tests."""
    import json

    path = run_dir(settings) / f"{name}.{os.getpid()}.assignment.json"
    path.write_text(json.dumps(partitions, sort_keys=True))


def is_ready(name: str, settings: Settings) -> bool:
    return (run_dir(settings) / f"{name}.ready").exists()
