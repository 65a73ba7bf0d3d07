"""The pages in headless Chromium (Debian's chromium, driven by Playwright): the big screen renders
without page errors, a published incident shows up within a second, and a console action round-trips
to every open screen. Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dashboard.server import DashboardServer
from streams.schemas import Incident, IncidentStatus
from tests.dashboard_helpers import SCREEN_TOKEN, incident, make_server, metrics

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class ServerThread:
    """The dashboard server on its own event loop in a thread (Playwright's sync API owns this one)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server: DashboardServer = make_server(aggregate_interval_s=0.5)
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start("127.0.0.1", 0))
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)
        self.url = f"http://127.0.0.1:{self.server.port}"

    def call(self, fn, *args):
        """Run fn(*args) on the server's loop and return its result."""
        async def go():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(5)

    def publish(self, inc: Incident) -> None:
        self.call(lambda: self.server.ingest(self.server.state.apply_incident(inc)))

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="session")
def chromium_endpoint(tmp_path_factory):
    """One headless Debian Chromium for the session, driven over CDP.

    Playwright's sync API keeps an event loop running in this thread while it is open, which would
    break every asyncio test that runs after it; so the browser process lives for the session but
    each test opens (and closes) its own short Playwright connection to it.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run `make browser` (apt-get install chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    endpoint = None
    deadline = time.time() + 30
    while endpoint is None and time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        m = re.search(r"DevTools listening on (ws://\S+)", line)
        if m:
            endpoint = m.group(1)
    if endpoint is None:
        proc.kill()
        pytest.fail("chromium did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its pipe drained
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def browser(chromium_endpoint):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.connect_over_cdp(chromium_endpoint)
        yield b
        for ctx in b.contexts[1:]:  # the default context belongs to the browser process
            ctx.close()


@pytest.fixture
def dash():
    s = ServerThread()
    yield s
    s.stop()


def _page(browser, size=(1920, 1080)):
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


def _open_screen(browser, dash, size=(1920, 1080)):
    page, errors = _page(browser, size)
    page.goto(f"{dash.url}/bigscreen.html?token={SCREEN_TOKEN}")
    page.wait_for_function("window.cityops && window.cityops.firstPaint !== null", timeout=10_000)
    return page, errors


def test_big_screen_renders_without_errors(browser, dash):
    now = time.time()
    dash.publish(incident("seed-1", opened_at=now - 300, sla_breaches=["acknowledge"], priority=1, severity=4))
    dash.call(lambda: dash.server.ingest(dash.server.state.apply_metrics(metrics("440104", ts=now))))
    for size in ((1920, 1080), (3840, 2160)):
        page, errors = _open_screen(browser, dash, size)
        page.wait_for_selector('#feed li[data-incident-id="seed-1"]', timeout=5000)
        page.wait_for_function("document.querySelector('#fig-water .main-svg') !== null", timeout=5000)
        page.wait_for_function("window.cityops.mapPaint !== undefined", timeout=10_000)
        assert page.locator("#map .main-svg").count() >= 1
        assert "alarm" in page.get_attribute("#k-sla", "class")  # SLA breaches stand out
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"bigscreen-{size[0]}x{size[1]}.png"))
        page.click("#lang")
        assert page.inner_text("header h1") == "Guangzhou City Operations Center"
        assert errors == [] and page.evaluate("window.cityops.errors") == []
        page.context.close()


def test_new_incident_appears_within_one_second(browser, dash):
    page, errors = _open_screen(browser, dash)
    dash.publish(incident("fresh-1", opened_at=time.time() - 5))
    page.wait_for_selector('#feed li[data-incident-id="fresh-1"]', timeout=1000)
    assert errors == []
    page.context.close()


def test_console_action_round_trips_to_every_open_screen(browser, dash):
    dash.publish(incident("rt-1", opened_at=time.time() - 30))
    screens = [_open_screen(browser, dash)[0] for _ in range(2)]
    console, errors = _page(browser)
    console.goto(f"{dash.url}/console.html")
    console.fill("#login-user", "dora")
    console.fill("#login-pass", "d-pass")
    console.click("#login-form button[type=submit]")
    console.click('tr[data-incident-id="rt-1"]', timeout=5000)
    console.click('button[data-action="acknowledge"]')
    # the in-memory sink stands in for dispatch: apply the command as dispatch would
    deadline = time.time() + 5
    while not dash.server.sink.commands and time.time() < deadline:
        time.sleep(0.02)
    cmd = dash.server.sink.commands[-1]
    assert (cmd.action.value, cmd.actor, cmd.incident_id) == ("acknowledge", "dora", "rt-1")
    acked = dash.call(lambda: dash.server.state.incidents["rt-1"])
    dash.publish(Incident(**{**acked, "revision": acked["revision"] + 1, "status": IncidentStatus.ACKNOWLEDGED,
                             "acknowledged_at": cmd.ts, "updated_at": cmd.ts}))
    for page in screens:
        page.wait_for_selector('#feed li[data-incident-id="rt-1"] .badge.st-acknowledged', timeout=3000)
    console.wait_for_selector('#d-status[data-status="acknowledged"]', timeout=3000)
    ARTIFACTS.mkdir(exist_ok=True)
    console.screenshot(path=str(ARTIFACTS / "console.png"))
    assert errors == []
    for p in screens + [console]:
        p.context.close()


def test_viewer_cannot_act(browser, dash):
    dash.publish(incident("v-1"))
    console, errors = _page(browser)
    console.goto(f"{dash.url}/console.html")
    console.fill("#login-user", "vera")
    console.fill("#login-pass", "v-pass")
    console.click("#login-form button[type=submit]")
    console.click('tr[data-incident-id="v-1"]', timeout=5000)
    assert console.locator('button[data-action="acknowledge"]').is_disabled()
    assert errors == []
    console.context.close()


def test_alarm_flood_is_grouped_and_a_district_click_zooms(browser, dash):
    now = time.time()
    for i in range(12):
        dash.publish(incident(f"flood-{i}", opened_at=now - 60 + i, category="waterlogging", district="440106"))
    page, errors = _open_screen(browser, dash)
    page.wait_for_selector('#feed li.group[data-group="waterlogging:440106"]', timeout=5000)
    assert "12" in page.inner_text('#feed li.group[data-group="waterlogging:440106"] .count')
    assert page.is_visible("#flood")
    assert page.locator('#feed li[data-incident-id^="flood-"]').count() == 0  # grouped, not scrolled
    page.wait_for_function("window.cityops.mapPaint !== undefined", timeout=10_000)
    page.evaluate("document.getElementById('map').emit('plotly_click', {points: [{location: '440106'}]})")
    page.wait_for_function("document.getElementById('map-title').textContent === '天河区'", timeout=3000)
    lon_range = page.evaluate("document.getElementById('map').layout.geo.lonaxis.range")
    assert lon_range[1] - lon_range[0] < 0.3  # zoomed to one district, not the whole city (~1.3°)
    page.click("#zoom-out")
    page.wait_for_function("document.getElementById('map-title').textContent === '全市'", timeout=3000)
    assert errors == []
    page.context.close()


def test_console_filters_and_sorts(browser, dash):
    now = time.time()
    dash.publish(incident("f-fire", category="fire", priority=1, severity=4, opened_at=now - 100))
    dash.publish(incident("f-water", category="waterlogging", priority=3, opened_at=now - 50))
    dash.publish(incident("f-done", category="traffic", status="resolved", opened_at=now - 500))
    console, errors = _page(browser)
    console.goto(f"{dash.url}/console.html")
    console.fill("#login-user", "vera")
    console.fill("#login-pass", "v-pass")
    console.click("#login-form button[type=submit]")
    console.wait_for_selector('tr[data-incident-id="f-fire"]', timeout=5000)
    ids = lambda: console.eval_on_selector_all("#rows tr", "rs => rs.map(r => r.dataset.incidentId)")  # noqa: E731
    assert ids() == ["f-fire", "f-water"]  # open only by default; most urgent first
    console.click('th[data-sort="opened_at"]')
    assert ids() == ["f-fire", "f-water"]
    console.click('th[data-sort="opened_at"]')
    assert ids() == ["f-water", "f-fire"]
    console.select_option("#f-category", "fire")
    assert ids() == ["f-fire"]
    console.select_option("#f-category", "")
    console.select_option("#f-status", "")
    console.wait_for_selector('tr[data-incident-id="f-done"]', timeout=2000)
    assert errors == []
    console.context.close()
