"""Assemble and run the dashboard process: settings → users, sessions, state, server, Kafka feed."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from dashboard.auth import Sessions, UserStore, demo_users
from dashboard.figures import Geo
from dashboard.server import CommandSink, DashboardServer, MemorySink
from dashboard.state import DashboardState
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Access:
    users: UserStore
    sessions: Sessions
    #: Demo passwords to print (empty when a users file is configured).
    demo_credentials: dict[str, str]
    users_file: Path


def load_access(settings: Settings) -> Access:
    """Users from CITYOPS_USERS, or a generated demo file under var_dir; the screen token."""
    path = settings.users_file
    creds: dict[str, str] = {}
    if not str(path) or str(path) == ".":
        path, creds = demo_users(settings.var_dir)
    return Access(UserStore.load(path), Sessions(settings.screen_token), creds, path)


def build_server(settings: Settings, sink: CommandSink | None = None, **kwargs) -> tuple[DashboardServer, Access]:
    access = load_access(settings)
    server = DashboardServer(DashboardState(), sink or MemorySink(), access.users, access.sessions,
                             Geo.load(settings.city_geojson), **kwargs)
    return server, access


def urls(settings: Settings, port: int, access: Access) -> dict[str, str]:
    host = settings.dashboard_host if settings.dashboard_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    root = f"http://{host}:{port}"
    return {"bigscreen": f"{root}/bigscreen.html?token={access.sessions.screen_token}",
            "console": f"{root}/console.html", "health": f"{root}/healthz"}


async def run(settings: Settings, bootstrap: str, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM): consume the topics, serve pages, send commands."""
    from dashboard.kafka_io import KafkaFeed

    server, access = build_server(settings)
    feed = KafkaFeed(bootstrap, server)
    server.sink = await feed.start()
    port = await server.start(settings.dashboard_host, settings.dashboard_port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    u = urls(settings, port, access)
    print(f"big screen: {u['bigscreen']}", flush=True)
    print(f"console:    {u['console']}", flush=True)
    if access.demo_credentials:
        creds = "  ".join(f"{k}/{v}" for k, v in access.demo_credentials.items())
        print(f"demo users ({access.users_file}): {creds}", flush=True)
    print(f"dashboard ready on port {port}", flush=True)
    from streams.runtime import mark_ready

    mark_ready("dashboard", settings)
    try:
        await stop.wait()
    finally:
        await server.stop()
        await feed.stop()
