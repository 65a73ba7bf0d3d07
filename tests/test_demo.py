"""`cityops demo` (what `make demo` runs): reaches ready, serves the screen, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from streams.broker import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _processes_with(marker: str) -> list[int]:
    """PIDs whose environment mentions `marker` (the demo's private var dir)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "environ").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_demo_reaches_ready_serves_the_screen_and_stops_cleanly(tmp_path):
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "CITYOPS_USERS")}
    env.update(CITYOPS_VAR=str(var), PYTHONUNBUFFERED="1")
    port = free_port()
    out = tmp_path / "demo.out"
    demo = subprocess.Popen([sys.executable, "-m", "cityops.cli", "demo", "--port", str(port)], env=env,
                            stdout=open(out, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "ready in" not in out.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, out.read_text()
            time.sleep(0.3)
        text = out.read_text()
        assert "ready in" in text, text
        urls = re.findall(r"http://\S+", text)
        assert urls[0].startswith(f"http://127.0.0.1:{port}/bigscreen.html?token="), "the big screen URL comes first"
        assert "KAFKA_BOOTSTRAP=127.0.0.1:" in text
        with urllib.request.urlopen(urls[0], timeout=5) as resp:
            assert resp.status == 200 and b"<html" in resp.read().lower()
        children = [p for p in _processes_with(str(var)) if p != demo.pid]
        assert len(children) >= 4, "worker, dispatch, dashboard and simulator run as child processes"
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        code = demo.wait(30)
    text = out.read_text()
    assert code == 0, text
    assert "stopped." in text and "Traceback" not in text
    for log in (var / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
    time.sleep(0.5)
    assert _processes_with(str(var)) == [], "no orphan processes"
