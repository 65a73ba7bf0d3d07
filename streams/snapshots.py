"""Detector snapshots on disk, so a restarted worker keeps what its sensor models learnt.

A worker writes `<var>/detectors/<app id>/<worker name>.npz` every minute (`CITYOPS_SNAPSHOT_S`; a temporary file,
then a rename: a crash mid-write leaves the previous snapshot whole). At start it loads every
snapshot of its app and takes, per sensor, the model that saw the latest reading, so after partitions
moved between workers sharing a var directory each sensor's freshest model wins. Without this, every
deploy would put the whole city back into warm-up: no scores for the first readings, and seasonal
profiles that take days to learn again. A snapshot that cannot be read, or that another detector
version wrote, is renamed `*.bad` with the reason logged; those sensors start fresh. Readings after
the last snapshot are not learnt again (the consumer's offsets are already past them).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from detectors import core
from detectors.bank import DetectorBank

log = logging.getLogger(__name__)

_TLAST = core.FIELDS.index("tlast")


def save(bank: DetectorBank, path: Path) -> int:
    """Write the bank's snapshot atomically; returns the number of sensors in it."""
    return write(bank.state(), path)


def write(state: dict[str, np.ndarray], path: Path) -> int:
    """Write a `DetectorBank.state()` atomically (a copy: safe to call from another thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **state)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(state["ids"])


def _read(path: Path, bank: DetectorBank) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
        bank.check_state(state)
        return state
    except Exception as exc:  # noqa: BLE001 - any unreadable snapshot is set aside, never fatal
        log.warning("detector snapshot %s set aside as .bad: %s", path, exc)
        try:
            path.replace(path.with_suffix(".bad"))
        except OSError as err:
            log.warning("could not set %s aside: %s", path, err)
        return None


def load_newest(bank: DetectorBank, where: Path) -> dict[str, int]:
    """Restore into `bank`, per sensor, the snapshot entry that saw the latest reading.

    Returns how many sensors each file supplied (files set aside supply none)."""
    states = [(p, s) for p in sorted(Path(where).glob("*.npz")) if (s := _read(p, bank)) is not None]
    best: dict[str, tuple[float, int, int]] = {}
    for k, (_, st) in enumerate(states):
        for j, (sid, t) in enumerate(zip(st["ids"].tolist(), st["st"][_TLAST].tolist())):
            if sid not in best or t > best[sid][0]:
                best[sid] = (t, k, j)
    taken = {}
    for k, (path, st) in enumerate(states):
        taken[path.name] = bank.restore(st, [j for _, kk, j in best.values() if kk == k])
    return taken
