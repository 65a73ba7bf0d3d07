"""A busy, plausible hour of Guangzhou for the dashboard's README screenshots (and for eyeballing).

`build_scene(server, now)` fills a DashboardServer's state the way the topics would after an hour
with a rain burst over two districts: district metrics every 20 s (so the theme panels have trends),
incidents in every stage with evidence, recommendations and a few SLA breaches, the alerts behind
them (sensor values rising, hotline call texts), field units and dispatch events.
`take_screenshots(out_dir)` renders the big screen and the console in headless Chromium.
"""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from typing import Any

from cityops.bench.dashboard import CHROMIUM, CHROMIUM_ARGS, CityFeed, serve_in_thread
from dashboard.auth import Sessions, UserStore
from dashboard.figures import Geo
from dashboard.server import DashboardServer, MemorySink
from dashboard.state import DashboardState
from streams.schemas import (
    Alert, DispatchEvent, DistrictMetrics, EvidenceItem, Incident, UnitInfo, UnitStatus,
)
from streams.settings import load as load_settings

RAIN_DISTRICTS = ("440106", "440105")  # Tianhe, Haizhu
SENSOR_REASON = {
    "waterlogging": ("water level 0.42 m above its usual 0.05 m (7.9σ); 3 nearby sensors agree", "wl", "m", 0.05, 0.04),
    "traffic": ("mean speed 9 km/h against a usual 34 km/h at this hour (6.2σ)", "ts", "km/h", 34.0, -2.2),
    "fire": ("smoke obscuration 7.5 %/m (usual 0.1); 2 nearby sensors agree", "sm", "%/m", 0.1, 0.7),
    "crowd": ("passenger flow 2,900 per 5 min against a usual 900 (5.4σ)", "pf", "people/5min", 900.0, 180.0),
    "pipe_burst": ("water-main pressure fell to 1.1 bar from a usual 3.2 bar", "wp", "bar", 3.2, -0.19),
    "air_pollution": ("PM2.5 168 µg/m³ against a usual 45 (5.8σ)", "pm", "µg/m³", 45.0, 11.0),
    "manhole": ("manhole cover tilted 14° (usual 0.3°)", "mh", "°", 0.3, 1.3),
    "public_safety": ("camera sees a fallen person (confidence 0.91)", "cam", "", 0.0, 0.0),
}
CALLS = {
    "waterlogging": ["天河路地铁口积水很深，车过不去", "小区门口水已经漫到膝盖了", "隧道里积水，有车熄火"],
    "traffic": ["广州大道北堵死了，前面好像有事故", "路口信号灯坏了，车辆乱成一团"],
    "fire": ["看到楼顶冒黑烟，好像着火了", "仓库那边有火光，烟很大"],
    "crowd": ["地铁站人太多，挤不进去", "广场上聚集了很多人"],
    "pipe_burst": ["路面在冒水，像是水管爆了", "停水了，街上一大片水"],
    "air_pollution": ["空气有很重的焦味，喉咙难受"],
    "manhole": ["井盖不见了，很危险"], "public_safety": ["有老人摔倒在路边起不来"],
}


def _metrics(feed: CityFeed, t: float, now: float) -> list[DistrictMetrics]:
    """District figures at time t; the rain burst fills drains in two districts over the last 25 minutes."""
    out = feed.metrics(t)
    burst = max(0.0, 1 - (now - t) / 1500)
    for m in out:
        if m.district in RAIN_DISTRICTS:
            m.kinds["water_level"] = {"mean": 0.05 + 0.2 * burst, "max": 0.08 + 0.47 * burst}
            m.kinds["rainfall"] = {"mean": 1 + 9 * burst, "max": 2 + 14 * burst}
        m.kinds["pm25"]["mean"] = 38 + 14 * math.sin((t % 86400) / 86400 * 2 * math.pi) + feed.rng.uniform(-3, 3)
    return out


def build_scene(server: DashboardServer, now: float, seed: int = 3) -> None:
    """Feed an hour of plausible city state into `server` (history included)."""
    state, feed = server.state, CityFeed(server.geo, seed=seed, open_incidents=60)
    rng = random.Random(seed)
    for t in range(int(now - 3600), int(now), 20):
        for m in _metrics(feed, float(t), now):
            state.apply_metrics(m)
        state.aggregates(float(t))
    cells_by_district: dict[str, list] = {}
    for c in feed.cells:
        cells_by_district.setdefault(c.district, []).append(c)
    units: list[UnitInfo] = []
    types = ["fire_engine", "ambulance", "police", "water_utility", "urban_management", "grid_worker"]
    for i in range(90):
        c = rng.choice(feed.cells)
        units.append(UnitInfo(unit_id=f"{types[i % len(types)][:4]}-{i:03d}", type=types[i % len(types)],
                              district=c.district, home_lat=c.lat, home_lon=c.lon, name=f"{c.district}-{i:03d}"))
        state.apply_unit_info(units[-1])
    cats = ["waterlogging"] * 9 + ["traffic"] * 6 + ["fire"] * 2 + ["crowd"] * 2 + ["pipe_burst"] * 2 + \
        ["air_pollution", "manhole", "public_safety"]
    statuses = ["new", "new", "acknowledged", "dispatched", "on_scene", "resolved"]
    for i in range(34):
        cat = cats[i % len(cats)]
        pool = cells_by_district[rng.choice(RAIN_DISTRICTS)] if cat == "waterlogging" else feed.cells
        cell = rng.choice(pool)
        opened = now - rng.uniform(60, 5400)
        status = statuses[i % len(statuses)]
        iid = f"INC-{int(opened) % 100000:05d}-{i:02d}"
        sev = 4 if cat == "fire" else rng.choice([2, 3, 3, 4]) if cat == "waterlogging" else rng.choice([1, 2, 3])
        assigned = [units[(i * 7) % len(units)].unit_id] if status in ("dispatched", "on_scene", "resolved") else []
        ack = opened + rng.uniform(40, 200) if status != "new" else None
        breach = ["acknowledge"] if status == "new" and now - opened > 900 else []
        reason, prefix, unit, base, step = SENSOR_REASON[cat]
        evidence = [EvidenceItem(alert_id=f"{iid}-s", source="sensor", subject_id=f"{prefix}-{cell.id}", ts=opened,
                                 reason=reason, score=0.93, cell=cell.id),
                    EvidenceItem(alert_id=f"{iid}-h", source="hotline", subject_id=f"sig-{i}", ts=opened + 120,
                                 reason=f"{2 + i % 4} hotline calls about {cat}", score=0.8, cell=cell.id)]
        if cat in ("fire", "crowd", "waterlogging", "traffic") and i % 2 == 0:
            evidence.append(EvidenceItem(alert_id=f"{iid}-v", source="video", subject_id=f"cam-{cell.id}",
                                         ts=opened + 60, reason=f"camera sees {cat.replace('_', ' ')} (confidence 0.88)",
                                         score=0.88, cell=cell.id))
        recs = [{"unit_id": u.unit_id, "type": u.type.value, "eta_s": round(rng.uniform(240, 1100), 1), "rank": k + 1,
                 "why": f"needed: {u.type.value} #{k + 1}; ETA from base ({u.district}), available"}
                for k, u in enumerate(rng.sample(units, 3))] if status in ("new", "acknowledged") else []
        inc = Incident(
            incident_id=iid, revision=3, status=status, category=cat, severity=sev, priority=max(1, 5 - sev),
            cell=cell.id, district=cell.district, lat=cell.lat, lon=cell.lon, opened_at=opened,
            updated_at=min(now, opened + 300), why=f"{cat.replace('_', ' ')}: " + "; ".join(e.reason for e in evidence[:2]),
            sources=sorted({e.source for e in evidence}), evidence=evidence, confidence=round(rng.uniform(0.6, 0.97), 2),
            assigned_units=assigned, acknowledged_at=ack, dispatched_at=ack + 120 if assigned else None,
            sla_breaches=breach, recommendations=recs,
            resolved_at=opened + 3000 if status == "resolved" else None,
        )
        state.apply_incident(inc)
        for k in range(12):  # the sensor alert re-emitted as the reading moves away from usual
            v = base + step * k * (1 + rng.uniform(-0.1, 0.1))
            state.apply_alert(Alert(alert_id=f"{iid}-s", ts=opened - 600 + 60 * k, source="sensor", kind="operational",
                                    category=cat, cell=cell.id, district=cell.district, lat=cell.lat, lon=cell.lon,
                                    score=min(1.0, 0.3 + 0.06 * k), reason=evidence[0].reason,
                                    subject_id=f"{prefix}-{cell.id}",
                                    details={"value": round(v, 3), "expected": base, "unit": unit,
                                             "episode_start": opened - 300}))
        state.apply_alert(Alert(alert_id=f"{iid}-h", ts=opened + 120, source="hotline", kind="operational",
                                category=cat, cell=cell.id, district=cell.district, lat=cell.lat, lon=cell.lon,
                                score=0.8, reason=evidence[1].reason, subject_id=f"sig-{i}",
                                details={"examples": CALLS.get(cat, ["市民来电反映情况"])}))
        if status != "new":
            state.apply_event(DispatchEvent(event_id=f"{iid}-ack", ts=ack, kind="command_applied", incident_id=iid,
                                            actor="dispatcher", details={"action": "acknowledge"}))
    for j, u in enumerate(units):
        st = "en_route" if j % 5 == 0 else "on_scene" if j % 7 == 0 else "available"
        state.apply_unit_status(UnitStatus(unit_id=u.unit_id, ts=now - 30, status=st, lat=u.home_lat, lon=u.home_lon))
    server.publish_aggregates()


def take_screenshots(out_dir: Path, size: tuple[int, int] = (1600, 900)) -> dict[str, Any]:
    """Render the scene's big screen and console (signed in, one incident open) to PNG files."""
    import time

    from playwright.sync_api import sync_playwright

    users = UserStore()
    users.add("zhang", "supervisor", "scene-only")
    server = DashboardServer(DashboardState(), MemorySink(), users, Sessions("scene"),
                             Geo.load(load_settings().city_geojson), aggregate_interval_s=3600)
    loop = serve_in_thread(server)

    async def fill() -> None:
        build_scene(server, time.time())

    asyncio.run_coroutine_threadsafe(fill(), loop).result(60)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{server.port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.goto(f"{url}/bigscreen.html?token=scene")
        page.wait_for_function("window.cityops.mapPaint !== undefined", timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out_dir / "bigscreen.png"))
        console = browser.new_page(viewport={"width": size[0], "height": size[1]})
        console.goto(f"{url}/console.html")
        console.fill("#login-user", "zhang")
        console.fill("#login-pass", "scene-only")
        console.click("#login-form button[type=submit]")
        console.click("tbody#rows tr:first-child", timeout=10_000)
        console.wait_for_selector(".ev-item .chart .main-svg", timeout=10_000)
        console.wait_for_timeout(500)
        console.screenshot(path=str(out_dir / "console.png"))
        browser.close()
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    return {"bigscreen": str(out_dir / "bigscreen.png"), "console": str(out_dir / "console.png")}
