"""End to end through a real broker: simulator → worker → fusion → dispatch → dashboard, and back.

Starts the embedded Tansu broker and the real `cityops worker`, `cityops dispatch` and
`cityops dashboard` processes, injects ONE labelled waterlogging scenario into a simulated city,
and checks that (a) the incident reaches a WebSocket client of the dashboard, (b) a dispatch command
sent through the console path changes its state on the screen, and (c) malformed messages land in
the dead-letter topics with their reasons while good messages keep flowing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from kafka import KafkaProducer

from dashboard.auth import UserStore
from detectors import DetectorBank
from streams import snapshots
from streams.admin import create_topics
from streams.broker import EmbeddedBroker, free_port
from streams.city import load_city
from streams.settings import load
from streams.simulator import Simulator
from streams.simulator.producer import run as run_simulator
from streams.tools import tail

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SCREEN_TOKEN = "e2e-screen-token"
DISPATCHER = ("dora", "d-pass-e2e")
SERVICES = {"worker": ["worker"], "dispatch": ["dispatch"], "dashboard": ["dashboard"]}


class City:
    """The running system: broker address, dashboard port, child processes and their logs."""

    def __init__(self, bootstrap: str, port: int, procs: dict[str, subprocess.Popen], logs: Path) -> None:
        self.bootstrap, self.port, self.procs, self.logs = bootstrap, port, procs, logs

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def assert_alive(self) -> None:
        for name, p in self.procs.items():
            assert p.poll() is None, f"{name} died:\n{self.log(name)}"


def _wait(pred, timeout: float, what: str, city: City | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if city is not None:
            city.assert_alive()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> City:
    tmp = tmp_path_factory.mktemp("e2e")
    broker = EmbeddedBroker(log_path=tmp / "broker.log")
    bootstrap = broker.start()
    create_topics(bootstrap, partitions=4)
    users = UserStore()
    users.add(DISPATCHER[0], "dispatcher", DISPATCHER[1])
    users.save(tmp / "users.json")
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "CITYOPS_VAR": str(tmp / "var"),
           "CITYOPS_RUN_DIR": str(tmp / "run"), "CITYOPS_SESSION_TIMEOUT": "3", "CITYOPS_HEARTBEAT": "0.5",
           "CITYOPS_USERS": str(tmp / "users.json"), "CITYOPS_SCREEN_TOKEN": SCREEN_TOKEN,
           "CITYOPS_DASHBOARD_PORT": str(port), "CITYOPS_SEED_FLEET": "1", "PYTHONUNBUFFERED": "1",
           "CITYOPS_SNAPSHOT_S": "1"}
    procs = {}
    for name, argv in SERVICES.items():
        procs[name] = subprocess.Popen([sys.executable, "-m", "cityops.cli", *argv], env=env,
                                       stdout=open(tmp / f"{name}.log", "wb"), stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
    running = City(bootstrap, port, procs, tmp)
    try:
        _wait(lambda: (tmp / "run" / "worker.ready").exists() and (tmp / "run" / "dispatch.ready").exists()
              and _healthy(port), 90, "worker, dispatch and dashboard to be ready", running)
        yield running
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        broker.stop()


class Screen:
    """A WebSocket client of the dashboard that keeps the incidents it has been sent."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.incidents: dict[str, dict] = {}
        self.replies: list[dict] = []

    @classmethod
    async def open(cls, port: int, hello: dict) -> "Screen":
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}",
                                      max_size=2**24)
        await ws.send(json.dumps(hello))
        return cls(ws)

    async def pump(self, until, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not until(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; incidents seen: "
                                     + json.dumps({k: (v["category"], v["status"]) for k, v in self.incidents.items()}))
            try:
                msg = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except asyncio.TimeoutError:
                continue
            if msg["type"] == "snapshot":
                self.incidents = {i["incident_id"]: i for i in msg["data"]["incidents"]}
            elif msg["type"] == "deltas":
                for item in msg["items"]:
                    if item["kind"] == "incident":
                        self.incidents[item["data"]["incident_id"]] = item["data"]
            else:
                self.replies.append(msg)

    def waterlogging_near(self, cells: set[str]) -> list[dict]:
        return [i for i in self.incidents.values() if i["category"] == "waterlogging" and i["cell"] in cells]


def _dead_letters(bootstrap: str, topic: str) -> list[dict]:
    return [json.loads(x) for x in tail(bootstrap, topic, from_beginning=True, idle_timeout=2)]


def test_scenario_to_screen_console_round_trip_and_dead_letters(city: City):
    settings = load()
    geo = load_city(settings.city_geojson, settings.cell_m)
    now = time.time()
    sim = Simulator(geo, seed=11, n_sensors=300, n_cameras=30, calls_per_hour=20)
    sensors, _ = sim.registry()
    cell = next(s.cell for s in sensors if s.kind.value == "water_level")
    truth = sim.inject("waterlogging", cell, now - 3600, 1.0)
    near = {n for c in truth.cells for n in geo.neighbours(c, 2)}

    # (c) malformed input first: everything after it must still flow
    producer = KafkaProducer(bootstrap_servers=city.bootstrap)
    producer.send("city.sensor.readings", key=cell.encode(), value=b'{"cell": "' + cell.encode() + b'", "readings": [')
    producer.send("city.hotline.calls", key=cell.encode(),
                  value=json.dumps({"call_id": "bin-1", "ts": now - 5, "text": "\x00\x01\x02\x03\x04\x05"}).encode())
    producer.flush(10)
    producer.close()

    # three hours of city, the scenario in its last hour, sent as fast as the broker takes it
    run_simulator(sim, city.bootstrap, start=now - 3 * 3600, duration=3 * 3600 - 30, speedup=10_000)

    async def screen_and_console() -> None:
        screen = await Screen.open(city.port, {"type": "hello", "token": SCREEN_TOKEN})
        # (a) the incident reaches the big screen
        await screen.pump(lambda s: s.waterlogging_near(near), timeout=90)
        incident = screen.waterlogging_near(near)[0]
        assert incident["status"] == "new"
        assert incident["evidence"], "an incident carries its evidence"
        # (b) a console action goes through dispatch and comes back to the screen
        console = await Screen.open(city.port, {"type": "login", "user": DISPATCHER[0], "password": DISPATCHER[1]})
        await console.pump(lambda s: any(r["type"] == "login_ok" for r in s.replies), timeout=10)
        await console.ws.send(json.dumps({"type": "command", "req": "r1", "action": "acknowledge",
                                          "incident_id": incident["incident_id"]}))
        await console.pump(lambda s: any(r["type"] == "command_sent" for r in s.replies), timeout=10)
        iid = incident["incident_id"]
        await screen.pump(lambda s: s.incidents[iid]["status"] == "acknowledged", timeout=30)
        assert screen.incidents[iid]["acknowledged_at"] is not None
        await console.ws.close()
        await screen.ws.close()

    asyncio.run(screen_and_console())

    readings_dlq = _dead_letters(city.bootstrap, "city.sensor.readings.dlq")
    assert any(d["reason"].startswith("bad JSON") and base64.b64decode(d["original_b64"]).endswith(b'"readings": [')
               for d in readings_dlq), readings_dlq
    calls_dlq = _dead_letters(city.bootstrap, "city.hotline.calls.dlq")
    assert any("binary" in d["reason"] for d in calls_dlq), calls_dlq
    # (d) what the worker's detectors learnt is on disk for its next start
    resumed = DetectorBank()
    _wait(lambda: snapshots.load_newest(resumed, city.logs / "var" / "detectors" / settings.app_id).get("worker.npz", 0)
          >= len(sensors), 10, "the worker's detector snapshot", city)
    assert resumed.explain_state(resumed.slot_of(truth.sensors[0]))["n"] > 60  # hours of readings learnt
    city.assert_alive()
