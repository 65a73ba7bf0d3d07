"""Two Faust workers in one consumer group share the input partitions (work partitioned by cell)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _holdings(run_dir, pids: list[int]) -> list[set[int]]:
    shares = []
    for pid in pids:
        path = run_dir / f"worker.{pid}.assignment.json"
        held = json.loads(path.read_text()) if path.exists() else {}
        shares.append(set(held.get("city.sensor.readings", [])))
    return shares


def test_two_workers_split_the_input_partitions(broker, tmp_path):
    env = {**os.environ, "KAFKA_BOOTSTRAP": broker, "CITYOPS_VAR": str(tmp_path / "var"),
           "CITYOPS_RUN_DIR": str(tmp_path / "run"), "CITYOPS_SESSION_TIMEOUT": "3", "CITYOPS_HEARTBEAT": "0.5",
           "CITYOPS_APP_ID": "cityops-scale-test"}
    procs = [subprocess.Popen([sys.executable, "-m", "cityops.cli", "worker"], env=env, cwd=tmp_path,
                              stdout=open(tmp_path / f"w{i}.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True) for i in range(2)]
    try:
        deadline = time.monotonic() + 90
        shares: list[set[int]] = []
        while time.monotonic() < deadline:
            for i, p in enumerate(procs):
                assert p.poll() is None, (tmp_path / f"w{i}.log").read_text()[-2000:]
            shares = _holdings(tmp_path / "run", [p.pid for p in procs])
            if all(shares) and shares[0].isdisjoint(shares[1]) and shares[0] | shares[1] == {0, 1, 2, 3}:
                break
            time.sleep(0.5)
        assert all(shares), f"each worker holds reading partitions: {shares}"
        assert shares[0].isdisjoint(shares[1]), shares
        assert shares[0] | shares[1] == {0, 1, 2, 3}, shares
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
