"""Dashboard benchmarks: WebSocket fan-out latency with N real clients, and big-screen memory and
first paint in headless Chromium over compressed simulated hours.

`run_bench`: the server runs in this process, fed incident updates at a fixed rate (each update's
``updated_at`` is its publish time); N WebSocket clients run in a child process on loopback and
measure publish→receive latency per update. `run_soak`: a big screen in Debian's Chromium receives
an hour (or more) of simulated city updates in compressed time; JS heap and browser RSS are sampled.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from dashboard.auth import Sessions, UserStore
from dashboard.figures import Geo
from dashboard.server import DashboardServer, MemorySink
from dashboard.state import DashboardState
from streams.schemas import DistrictMetrics, EvidenceItem, Incident
from streams.settings import load as load_settings

UPDATED_AT = re.compile(r'"kind":"incident","key":"[^"]*","data":\{.*?"updated_at":([0-9.]+)')
CATEGORIES = ["waterlogging", "fire", "air_pollution", "traffic", "crowd", "pipe_burst", "manhole", "public_safety"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _server(screen_token: str) -> DashboardServer:
    return DashboardServer(DashboardState(), MemorySink(), UserStore(), Sessions(screen_token),
                           Geo.load(load_settings().city_geojson))


class CityFeed:
    """Synthetic but realistic-looking incident updates and district metrics over a given geometry."""

    def __init__(self, geo: Geo, seed: int = 1, open_incidents: int = 200) -> None:
        from streams.city import load_city

        self.rng = random.Random(seed)
        self.geo = geo
        self.cells = list(load_city(load_settings().city_geojson).cells.values())
        self.revisions: dict[str, int] = {}
        self.opened: dict[str, float] = {}
        self.pool = [f"bench-{i:05d}" for i in range(open_incidents)]

    def incident(self, now: float, iid: str | None = None) -> Incident:
        rng = self.rng
        iid = iid or rng.choice(self.pool)
        rev = self.revisions.get(iid, 0) + 1
        self.revisions[iid] = rev
        opened = self.opened.setdefault(iid, now - rng.uniform(0, 1800))
        cell = self.cells[zlib.crc32(iid.encode()) % len(self.cells)]
        status = ["new", "acknowledged", "dispatched", "on_scene"][min(3, (rev - 1) // 2)]
        cat = CATEGORIES[zlib.crc32(iid.encode()[::-1]) % len(CATEGORIES)]
        return Incident(
            incident_id=iid, revision=rev, status=status, category=cat, severity=rng.randint(1, 4),
            priority=rng.randint(1, 4), cell=cell.id, district=cell.district,
            lat=cell.lat, lon=cell.lon, opened_at=opened, updated_at=now,
            why=f"{cat}: 3 sensors above their usual range, 2 hotline calls in the same cell",
            sources=["sensor", "hotline"],
            evidence=[EvidenceItem(alert_id=f"{iid}-s", source="sensor", ts=opened, reason="level above usual range"),
                      EvidenceItem(alert_id=f"{iid}-h", source="hotline", ts=opened + 30, reason="2 calls")],
            acknowledged_at=opened + 60 if status != "new" else None,
            dispatched_at=opened + 240 if status in ("dispatched", "on_scene") else None,
        )

    def metrics(self, now: float) -> list[DistrictMetrics]:
        rng = self.rng
        hour = (now / 3600 + 8) % 24
        rush = 1.0 if 7 <= hour <= 9 or 17 <= hour <= 19 else 0.0
        out = []
        for did in self.geo.ids:
            known = rng.randint(250, 400)
            out.append(DistrictMetrics(
                district=did, ts=now, window_s=2.0, readings=known * 2, readings_per_s=known * rng.uniform(0.9, 1.1),
                sensors_reporting=known - rng.randint(0, 12), sensors_known=known,
                kinds={"water_level": {"mean": rng.uniform(0.0, 0.1), "max": rng.uniform(0.05, 0.45)},
                       "pm25": {"mean": rng.uniform(20, 90), "max": rng.uniform(60, 160)},
                       "traffic_speed": {"mean": rng.uniform(18, 40) - 8 * rush, "max": 70.0}},
                video_events=rng.randint(0, 12), hotline_calls=rng.randint(0, 6),
                hotline_top=[{"category": rng.choice(CATEGORIES), "cell": f"r{rng.randint(0, 120):03d}c{rng.randint(0, 90):03d}",
                              "count": rng.randint(1, 5)}]))
        return out


# --------------------------------------------------------------------------- fan-out bench

async def _clients_main(url: str, n: int, token: str, duration: float) -> dict[str, Any]:
    """Child process: n clients; latency of every incident update = receive time - its updated_at."""
    import websockets

    latencies: list[float] = []
    disconnected = 0
    frames = 0
    stop_at = [float("inf")]
    ready = asyncio.Event()
    connected = [0]

    async def one() -> None:
        nonlocal disconnected, frames
        try:
            async with websockets.connect(url, max_size=None, open_timeout=60, ping_interval=None) as ws:
                await ws.send(json.dumps({"type": "hello", "token": token}))
                await ws.recv()  # welcome
                connected[0] += 1
                if connected[0] == n:
                    ready.set()
                while True:
                    raw = await ws.recv()
                    now = time.time()
                    if now > stop_at[0]:
                        return
                    frames += 1
                    # Only the timestamps matter here; a regex keeps the harness from being the
                    # bottleneck (a full json.loads per frame per client costs more than the server).
                    latencies.extend(now - float(ts) for ts in UPDATED_AT.findall(raw))
        except Exception:
            disconnected += 1

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one()))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not SYN-flood the listen backlog
    await asyncio.wait_for(ready.wait(), 120)
    print("READY", flush=True)
    # The parent starts publishing now; measure for `duration` seconds after a short warm-up.
    await asyncio.sleep(1.0)
    latencies.clear()
    stop_at[0] = time.time() + duration
    cpu0 = _cpu_s()
    await asyncio.sleep(duration + 0.5)
    cpu_pct = round(100 * (_cpu_s() - cpu0) / (duration + 0.5), 1)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, "disconnected": disconnected, "frames": frames, "cpu_pct": cpu_pct}


def _raise_fd_limit() -> None:
    """A thousand sockets need more than the usual soft limit of 1024 descriptors."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard) if hard != resource.RLIM_INFINITY else 8192, hard))


def _cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


async def _bench(clients: int, rate: float, duration: float, flush_ms: float) -> dict[str, Any]:
    _raise_fd_limit()
    token = "bench-screen-token"
    server = _server(token)
    server.flush_interval_s = flush_ms / 1000
    port = await server.start("127.0.0.1", 0)
    feed = CityFeed(server.geo)
    now = time.time()
    for iid in feed.pool:  # the screens start with a city full of open incidents
        server.ingest(server.state.apply_incident(feed.incident(now, iid)))
    for m in feed.metrics(now):
        server.ingest(server.state.apply_metrics(m))
    # The simulated screens run in child processes (about 400 each) so the harness, not the
    # server, is never what one Python process can parse.
    procs_n = max(1, -(-clients // 400))
    sizes = [clients // procs_n + (i < clients % procs_n) for i in range(procs_n)]
    procs = []
    for size in sizes:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cityops.bench.dashboard", "clients", f"ws://127.0.0.1:{port}/ws", str(size),
            token, str(duration), stdout=subprocess.PIPE)
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        if line.strip() != b"READY":
            raise RuntimeError(f"clients did not start: {line!r}")
    sent = 0
    server.fanout_ms.clear()
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    end = t0 + duration + 1.5
    next_metrics = t0
    while (tick := time.perf_counter()) < end:
        due = int((tick - t0) * rate) - sent
        for _ in range(due):
            server.ingest(server.state.apply_incident(feed.incident(time.time())))
        sent += max(0, due)
        if tick >= next_metrics:  # the workers publish district metrics every ~2 s
            for m in feed.metrics(time.time()):
                server.ingest(server.state.apply_metrics(m))
            next_metrics += 2.0
        # sleep until the next update is due (polling would only add wake-ups on a busy machine)
        await asyncio.sleep(max(0.001, t0 + (sent + 1) / rate - time.perf_counter()))
    elapsed = time.perf_counter() - t0
    server_cpu = _cpu_s() - cpu0
    results = []
    for proc in procs:
        out, _ = await proc.communicate()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    res = {"latencies": [x for r in results for x in r["latencies"]],
           "disconnected": sum(r["disconnected"] for r in results), "frames": sum(r["frames"] for r in results),
           "cpu_pct": round(sum(r["cpu_pct"] for r in results), 1)}
    overflows = sum(c.queue.overflows for c in server.clients.values())
    await server.stop()
    lat = res["latencies"]
    return {
        "clients": clients,
        "updates_per_s": round(sent / elapsed, 1),
        "p50_latency_ms": round(_percentile(lat, 0.50) * 1000, 1),
        "p99_latency_ms": round(_percentile(lat, 0.99) * 1000, 1),
        "max_latency_ms": round(max(lat) * 1000, 1) if lat else None,
        "disconnected": res["disconnected"],
        "deliveries": len(lat),
        "frames_received": res["frames"],
        "queue_overflows": overflows,
        "server_fanout_p50_ms": round(_percentile(list(server.fanout_ms), 0.50), 1),
        "server_fanout_p99_ms": round(_percentile(list(server.fanout_ms), 0.99), 1),
        "duration_s": duration,
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "clients_cpu_pct": res.get("cpu_pct"),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "flush_interval_ms": server.flush_interval_s * 1000,
        "client_processes": procs_n,
    }


def run_bench(clients: int, rate: float, duration: float = 20.0, flush_ms: float = 50.0) -> dict[str, Any]:
    """N real WebSocket clients on loopback, `rate` incident updates/s: publish→client latency."""
    return asyncio.run(_bench(clients, rate, duration, flush_ms))


# --------------------------------------------------------------------------- browser soak

def _descendants(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                parent[int(pid)] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _browser_pss_mb() -> dict[str, float]:
    """Proportional memory (PSS: shared pages split, not double-counted) of the Chromium processes
    this process started through Playwright: all of them, and the renderers (the page) alone."""
    total_kb = renderer_kb = 0
    for pid in _descendants(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"chrom" not in cmd:
                continue
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    kb = int(line.split()[1])
                    total_kb += kb
                    renderer_kb += kb if b"--type=renderer" in cmd else 0
        except OSError:
            continue
    return {"browser_pss_mb": round(total_kb / 1024, 1), "renderer_pss_mb": round(renderer_kb / 1024, 1)}


def run_soak(sim_hours: float = 1.0, speedup: float = 30.0, rate_per_sim_s: float = 0.5) -> dict[str, Any]:
    """Push `sim_hours` of simulated updates through one big screen at `speedup`x and measure memory.

    At the default 0.5 incident updates per simulated second (1,800 an hour, on top of district
    metrics every 2 simulated seconds), speedup 30 runs an hour in 2 minutes.
    """
    from playwright.sync_api import sync_playwright

    token = "soak-screen-token"
    server = _server(token)
    loop = serve_in_thread(server)
    feed = CityFeed(server.geo, open_incidents=400)
    sim_start = time.time() - sim_hours * 3600  # simulated time ends "now"
    samples: list[dict[str, float]] = []

    async def push(sim_now: float, n_inc: int, metrics: bool) -> None:
        for _ in range(n_inc):
            # one in five updates opens a new incident: the store keeps growing like a real day
            iid = f"soak-{len(feed.revisions):06d}" if feed.rng.random() < 0.2 else None
            server.ingest(server.state.apply_incident(feed.incident(sim_now, iid)))
        if metrics:
            for m in feed.metrics(sim_now):
                server.ingest(server.state.apply_metrics(m))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        url = f"http://127.0.0.1:{server.port}/bigscreen.html?token={token}"
        t_nav = time.perf_counter()
        page.goto(url)
        page.wait_for_function("window.cityops && window.cityops.firstPaint !== null", timeout=30_000)
        page.wait_for_function("window.cityops.mapPaint !== undefined", timeout=30_000)
        first_paint_ms = page.evaluate("window.cityops.firstPaint")
        map_paint_ms = page.evaluate("window.cityops.mapPaint")
        cold_wall_ms = (time.perf_counter() - t_nav) * 1000
        # A wall screen is reloaded far more often than installed: measure a warm (cached) load too.
        page.reload()
        page.wait_for_function("window.cityops && window.cityops.firstPaint !== null", timeout=30_000)
        page.wait_for_function("window.cityops.mapPaint !== undefined", timeout=30_000)
        warm_first_ms = page.evaluate("window.cityops.firstPaint")
        warm_map_ms = page.evaluate("window.cityops.mapPaint")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def sample(sim_s: float) -> None:
            cdp.send("HeapProfiler.collectGarbage")
            m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
            samples.append({"sim_s": round(sim_s), "js_heap_mb": round(m["JSHeapUsedSize"] / 2 ** 20, 1),
                            "nodes": m.get("Nodes", 0), **_browser_pss_mb()})

        sample(0)
        total_sim = sim_hours * 3600
        step_wall = 0.1
        sim_per_step = step_wall * speedup
        sim = 0.0
        acc = 0.0
        next_metrics = 0.0
        next_sample = 300.0
        t0 = time.perf_counter()
        while sim < total_sim:
            sim += sim_per_step
            acc += sim_per_step * rate_per_sim_s
            n = int(acc)
            acc -= n
            do_metrics = sim >= next_metrics
            if do_metrics:
                next_metrics += 2.0 * max(1.0, speedup / 10)  # metrics thinned with speed-up; panels redraw at 1 Hz anyway
            asyncio.run_coroutine_threadsafe(push(sim_start + sim, n, do_metrics), loop).result(10)
            if sim >= next_sample:
                sample(sim)
                next_sample += 300.0
            sleep = t0 + (sim / speedup) - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
        wall = time.perf_counter() - t0
        sample(sim)
        page.screenshot(path=str(Path("artifacts").resolve() / "soak-bigscreen.png")) if Path("artifacts").is_dir() else None
        incidents_in_page = page.evaluate("window.cityops.store.incidents.size")
        browser.close()
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    return {
        "sim_hours": sim_hours, "speedup": speedup, "wall_s": round(wall, 1),
        "incident_updates": sum(feed.revisions.values()), "incidents": len(feed.revisions),
        "incidents_in_page": incidents_in_page,
        "first_paint_ms": round(first_paint_ms, 1), "map_paint_ms": round(map_paint_ms, 1),
        "cold_load_wall_ms": round(cold_wall_ms, 1),
        "warm_first_paint_ms": round(warm_first_ms, 1), "warm_map_paint_ms": round(warm_map_ms, 1),
        "js_heap_start_mb": samples[0]["js_heap_mb"], "js_heap_end_mb": samples[-1]["js_heap_mb"],
        "js_heap_max_mb": max(s["js_heap_mb"] for s in samples),
        "renderer_pss_end_mb": samples[-1]["renderer_pss_mb"],
        "renderer_pss_max_mb": max(s["renderer_pss_mb"] for s in samples),
        "browser_pss_end_mb": samples[-1]["browser_pss_mb"], "browser_pss_max_mb": max(s["browser_pss_mb"] for s in samples),
        "page_errors": len(errors), "samples": samples,
    }


if __name__ == "__main__" and len(sys.argv) >= 6 and sys.argv[1] == "clients":
    _raise_fd_limit()
    _url, _n, _token, _duration = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    print(json.dumps(asyncio.run(_clients_main(_url, _n, _token, _duration))), flush=True)


def serve_in_thread(server: DashboardServer) -> asyncio.AbstractEventLoop:
    """Run `server` on a fresh event loop in a daemon thread (so a sync browser can drive it); return the loop."""
    import threading

    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start("127.0.0.1", 0))
        started.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    started.wait(10)
    return loop
