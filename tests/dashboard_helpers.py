"""Small fixtures shared by the dashboard tests: incidents, metrics, a running in-process server."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from pathlib import Path

from dashboard.auth import Sessions, UserStore
from dashboard.figures import Geo
from dashboard.server import DashboardServer, MemorySink
from dashboard.state import DashboardState
from streams.schemas import DistrictMetrics, EvidenceItem, Incident
from streams.settings import PACKAGE_DATA

GEOJSON = PACKAGE_DATA / "guangzhou_districts.geojson"
SCREEN_TOKEN = "screen-token-for-tests"
PASSWORDS = {"vera": ("viewer", "v-pass"), "dora": ("dispatcher", "d-pass"), "sam": ("supervisor", "s-pass")}


def incident(iid: str = "inc-1", revision: int = 1, *, status: str = "new", opened_at: float | None = None,
             category: str = "waterlogging", district: str = "440104", priority: int = 2, severity: int = 3,
             **kw) -> Incident:
    opened = opened_at if opened_at is not None else time.time() - 60
    fields = dict(
        incident_id=iid, revision=revision, status=status, category=category, severity=severity, priority=priority,
        cell="r050c060", district=district, lat=23.13, lon=113.28, opened_at=opened,
        updated_at=kw.pop("updated_at", opened + revision), why="water level 0.4 m above normal; 3 calls",
        sources=["sensor", "hotline"],
        evidence=[EvidenceItem(alert_id=f"{iid}-a1", source="sensor", ts=opened, reason="water level rise"),
                  EvidenceItem(alert_id=f"{iid}-a2", source="hotline", ts=opened + 5, reason="3 calls about flooding")],
    )
    fields.update(kw)
    return Incident(**fields)


def metrics(district: str = "440104", ts: float | None = None, **kw) -> DistrictMetrics:
    fields = dict(district=district, ts=ts or time.time(), window_s=2.0, readings=400, readings_per_s=200.0,
                  sensors_reporting=180, sensors_known=200,
                  kinds={"pm25": {"mean": 41.0, "max": 88.0}, "water_level": {"mean": 0.05, "max": 0.31},
                         "traffic_speed": {"mean": 31.0, "max": 60.0}},
                  video_events=4, hotline_calls=3,
                  hotline_top=[{"category": "waterlogging", "cell": "r050c060", "count": 3}])
    fields.update(kw)
    return DistrictMetrics(**fields)


def users() -> UserStore:
    store = UserStore()
    for name, (role, pw) in PASSWORDS.items():
        store.add(name, role, pw)
    return store


def make_server(**kw) -> DashboardServer:
    return DashboardServer(DashboardState(), kw.pop("sink", None) or MemorySink(), users(), Sessions(SCREEN_TOKEN),
                           Geo.load(GEOJSON), **kw)


@asynccontextmanager
async def running(**kw):
    server = make_server(**kw)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


async def recv_json(ws, timeout: float = 3.0) -> dict:
    import asyncio

    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout: float = 3.0) -> dict:
    """Receive frames until one satisfies pred (frames are JSON objects)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("expected frame did not arrive")
        msg = await recv_json(ws, left)
        if pred(msg):
            return msg


def delta_items(msg: dict, kind: str) -> list[dict]:
    return [it for it in msg.get("items", []) if it["kind"] == kind] if msg.get("type") == "deltas" else []


def shows_incident(msg: dict, iid: str, status: str | None = None) -> bool:
    """Whether a frame (deltas or snapshot) carries incident `iid` (in `status`, if given)."""
    if msg.get("type") == "snapshot":
        found = [i for i in msg["data"]["incidents"] if i["incident_id"] == iid]
    else:
        found = [i["data"] for i in delta_items(msg, "incident") if i["data"]["incident_id"] == iid]
    return any(status is None or i["status"] == status for i in found)
