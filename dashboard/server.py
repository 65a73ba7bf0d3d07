"""The dashboard server: one port serving the pages over HTTP and the live view over WebSocket.

`DashboardServer` owns a `DashboardState`, a protocol `Hub` and a `CommandSink`. Whatever feeds it
(Kafka in production, tests and benchmarks directly) calls `ingest(deltas)` with what the state's
`apply_*` methods return. HTTP requests (pages, plotly.min.js from the installed plotly package,
the base map, /healthz) are answered from websockets' `process_request` hook; `/ws` upgrades to the
protocol described in `dashboard.protocol`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import mimetypes
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from dashboard import figures
from dashboard.auth import OVERRIDE_ROLES, PERMISSIONS, Sessions, User, UserStore
from dashboard.protocol import (
    MAX_CLIENT_MESSAGE, PROTOCOL_VERSION, ClientQueue, Hub, dumps, snapshot_frame,
)
from dashboard.state import DashboardState, Delta
from streams.schemas import DispatchCommand

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
HELLO_TIMEOUT_S = 10.0
MAX_LOGIN_ATTEMPTS = 5
#: A client whose socket holds more unsent bytes than this is served through its coalescing queue.
DIRECT_WRITE_LIMIT = 64 * 1024


class CommandSink(Protocol):
    """Where console intents go once validated: Kafka in production, a list in tests."""

    async def send(self, command: DispatchCommand) -> None: ...


@dataclass
class MemorySink:
    commands: list[DispatchCommand] = field(default_factory=list)

    async def send(self, command: DispatchCommand) -> None:
        self.commands.append(command)


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@dataclass
class _Asset:
    body: bytes
    content_type: str
    cache: str
    gz: bytes | None = None


class _Assets:
    """The few files the server hands out, read once; gzipped once on first request that accepts it."""

    def __init__(self, extra: dict[str, bytes]) -> None:
        self._files: dict[str, _Asset] = {}
        for path in sorted(STATIC_DIR.rglob("*")):
            if path.is_file():
                ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self._files["/" + path.relative_to(STATIC_DIR).as_posix()] = _Asset(path.read_bytes(), ctype, "no-cache")
        self._files["/vendor/plotly.min.js"] = _Asset(plotly_js_path().read_bytes(), "text/javascript", "max-age=86400")
        for name, body in extra.items():
            self._files[name] = _Asset(body, "application/json", "no-cache")

    def response(self, path: str, accept_encoding: str) -> Response | None:
        asset = self._files.get(path)
        if asset is None:
            return None
        ctype = asset.content_type + ("; charset=utf-8" if asset.content_type.startswith(("text/", "application/j")) else "")
        headers = [("Content-Type", ctype), ("Cache-Control", asset.cache), ("X-Content-Type-Options", "nosniff")]
        body = asset.body
        if "gzip" in accept_encoding and len(body) > 4096:
            if asset.gz is None:
                asset.gz = gzip.compress(body, 6)
            body = asset.gz
            headers.append(("Content-Encoding", "gzip"))
        return _response(HTTPStatus.OK, body, headers)


def _response(status: HTTPStatus, body: bytes, headers: list[tuple[str, str]]) -> Response:
    h = Headers(headers)
    h["Content-Length"] = str(len(body))
    h["Connection"] = "close"
    return Response(status.value, status.phrase, h, body)


@dataclass
class _Client:
    ws: ServerConnection
    user: User
    queue: ClientQueue


class DashboardServer:
    """Serve the pages and the live view; fan state deltas out to every connected page."""

    def __init__(self, state: DashboardState, sink: CommandSink, users: UserStore, sessions: Sessions,
                 geo: figures.Geo, *, flush_interval_s: float = 0.05, aggregate_interval_s: float = 1.0,
                 allowed_origins: Iterable[str] = (), max_pending: int = 2000) -> None:
        self.state = state
        self.sink = sink
        self.users = users
        self.sessions = sessions
        self.geo = geo
        self.hub = Hub()
        self.flush_interval_s = flush_interval_s
        self.aggregate_interval_s = aggregate_interval_s
        self.allowed_origins = {o.rstrip("/") for o in allowed_origins}
        self.max_pending = max_pending
        self.clients: dict[ServerConnection, _Client] = {}
        self.health: dict[str, Any] = {}
        self._assets = _Assets({"/api/map.json": dumps(figures.base_map(geo))})
        self._server: Server | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._aggregate_task: asyncio.Task | None = None
        self._last_aggregates: dict[str, bytes] = {}
        self._figures: dict[str, Any] = {}  # latest panels and district summary, for snapshots
        self._snapshot_cache: tuple[int, bytes] | None = None
        self._staged_since = 0.0
        self.fanout_ms: deque[float] = deque(maxlen=100_000)
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request, max_size=MAX_CLIENT_MESSAGE,
            compression=None,  # per-client deflate costs CPU for every client; frames are shared bytes
            max_queue=16, server_header="cityops-dashboard", close_timeout=2,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        self._aggregate_task = asyncio.create_task(self._aggregate_loop())
        return self.port

    async def stop(self) -> None:
        if self._aggregate_task:
            self._aggregate_task.cancel()
            await asyncio.gather(self._aggregate_task, return_exceptions=True)
        if self._flush_handle:
            self._flush_handle.cancel()
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    # ------------------------------------------------------------------ feeding
    def ingest(self, deltas: list[Delta]) -> None:
        """Publish state deltas; they reach every client within about one flush interval."""
        if deltas and self.hub.publish(deltas) and self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._staged_since = time.perf_counter()
            self._flush_handle = loop.call_later(self.flush_interval_s, self._flush)

    def _flush(self) -> None:
        """Write the staged batch: directly to clients that keep up, through the queue to the others."""
        self._flush_handle = None
        batch = self.hub.take()
        if batch is None:
            return
        items, frame = batch
        direct: list[ServerConnection] = []
        for ws, client in self.clients.items():
            q = client.queue
            transport = ws.transport
            if (not len(q) and not q.needs_snapshot and not q.busy and transport is not None
                    and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT):
                direct.append(ws)
            else:
                q.offer(items, frame)
        if direct:
            broadcast(direct, frame, text=True)
        # How long the oldest delta of this batch waited in the server before it was written out
        # to every client that keeps up (the server's own share of publish→screen latency).
        self.fanout_ms.append((time.perf_counter() - self._staged_since) * 1000)

    def publish_aggregates(self) -> None:
        """Recompute KPIs, flood groups, heat and panels; publish those that changed."""
        agg = self.state.aggregates()
        agg["panels"] = figures.panels(self.state, self.geo)
        agg["districts"] = figures.district_summary(self.state)
        changed: list[Delta] = []
        for kind, data in agg.items():
            body = dumps(data)
            if kind == "kpis":  # "now" ticks every second; only real changes count
                body = dumps({k: v for k, v in data.items() if k != "now"})
            if self._last_aggregates.get(kind) != body:
                self._last_aggregates[kind] = body
                self._figures[kind] = data
                changed.append((kind, kind, data))
        self.ingest(changed)

    async def _aggregate_loop(self) -> None:
        n = 0
        while True:
            try:
                if n % 60 == 0:
                    self.state.prune(self.state.now())
                n += 1
                self.publish_aggregates()
            except Exception:  # a bad figure must not stop the live view
                log.exception("aggregates failed")
            await asyncio.sleep(self.aggregate_interval_s)

    # ------------------------------------------------------------------ HTTP
    def _origin_ok(self, request: Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser (tools, benchmarks); browsers always send Origin on WebSocket
        origin = origin.rstrip("/")
        if origin in self.allowed_origins:
            return True
        host = request.headers.get("Host", "")
        return urlsplit(origin).netloc == host and bool(host)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if path != "/ws":
                return connection.respond(HTTPStatus.NOT_FOUND, "WebSocket endpoint is /ws\n")
            if not self._origin_ok(request):
                return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
            return None
        if path == "/":
            return _response(HTTPStatus.FOUND, b"", [("Location", "/bigscreen.html")])
        if path == "/healthz":
            body = dumps({"status": "ok", "clients": len(self.clients), "seq": self.hub.seq,
                          "incidents": len(self.state.incidents), **self.health})
            return _response(HTTPStatus.OK, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        resp = self._assets.response(path, request.headers.get("Accept-Encoding", ""))
        return resp or connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    # ------------------------------------------------------------------ WebSocket
    async def _handle(self, ws: ServerConnection) -> None:
        try:
            auth = await self._authenticate(ws)
        except (asyncio.TimeoutError, ConnectionClosed):
            await ws.close(4408, "no hello in time")
            return
        if auth is None:
            await ws.close(4401, "not authenticated")
            return
        user, last_seq = auth
        client = _Client(ws, user, ClientQueue(self.max_pending))
        await ws.send(dumps({"type": "welcome", "user": user.name, "role": user.role, "protocol": PROTOCOL_VERSION,
                             "actions": sorted(PERMISSIONS.get(user.role, ())),
                             "override": user.role in OVERRIDE_ROLES}), text=True)
        # Attach before building the catch-up so no delta published in between is lost; while
        # catching up the client is busy, so newer deltas queue behind the replay.
        frames = self.hub.resume(last_seq)
        self.clients[ws] = client
        if frames is None:
            client.queue.request_snapshot()
        else:
            client.queue.busy = True
            try:
                for f in frames:
                    await ws.send(f, text=True)
            finally:
                client.queue.busy = False
        sender = asyncio.create_task(self._sender(client))
        try:
            async for raw in ws:
                await self._on_message(client, raw)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            self.clients.pop(ws, None)

    async def _authenticate(self, ws: ServerConnection) -> tuple[User, int | None] | None:
        for _ in range(MAX_LOGIN_ATTEMPTS):
            msg = _parse(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S))
            kind = msg.get("type") if msg else None
            if kind == "hello":
                user = self.sessions.resolve(str(msg.get("token") or ""))
                if user is None:
                    await ws.send(dumps({"type": "error", "reason": "invalid or expired token"}), text=True)
                    return None
                last = msg.get("last_seq")
                return user, int(last) if isinstance(last, int) else None
            if kind == "login":
                user = await asyncio.to_thread(self.users.authenticate, str(msg.get("user", "")),
                                               str(msg.get("password", "")))
                if user is None:
                    await ws.send(dumps({"type": "login_failed", "reason": "wrong user name or password"}), text=True)
                    continue
                token = self.sessions.issue(user)
                await ws.send(dumps({"type": "login_ok", "token": token, "user": user.name, "role": user.role}),
                              text=True)
                return user, None
            await ws.send(dumps({"type": "error", "reason": "send hello or login first"}), text=True)
        return None

    async def _sender(self, client: _Client) -> None:
        """Send this client's pending deltas as one frame at a time; a slow socket only delays itself."""
        q = client.queue
        try:
            while True:
                await q.ready.wait()
                frame, snapshot = q.take()
                if snapshot:
                    frame = self._snapshot()
                if frame is not None:
                    q.busy = True
                    try:
                        await client.ws.send(frame, text=True)
                    finally:
                        q.busy = False
        except ConnectionClosed:
            pass

    def _snapshot(self) -> bytes:
        """The snapshot frame at the current sequence, built once per sequence for all clients."""
        if self._snapshot_cache is None or self._snapshot_cache[0] != self.hub.seq:
            data = self.state.snapshot()
            data["panels"] = self._figures.get("panels")
            data["districts"] = self._figures.get("districts", {})
            self._snapshot_cache = (self.hub.seq, snapshot_frame(self.hub.seq, data))
        return self._snapshot_cache[1]

    async def _on_message(self, client: _Client, raw: str | bytes) -> None:
        msg = _parse(raw)
        kind = msg.get("type") if msg else None
        if kind == "command":
            reply = await self.command(client.user, msg)
        elif kind == "detail":
            detail = self.state.incident_detail(str(msg.get("incident_id", "")))
            if detail is not None:
                detail["charts"] = {a["alert_id"]: c for a in detail["alerts"]
                                    if (c := figures.sensor_chart(a, self.state.utc_offset_h))}
            reply = {"type": "detail", "incident_id": msg.get("incident_id"), "data": detail}
        elif kind == "ping":
            reply = {"type": "pong"}
        elif kind == "logout":
            self.sessions.revoke(str(msg.get("token", "")))
            await client.ws.close(1000, "logged out")
            return
        else:
            reply = {"type": "error", "reason": f"unknown message type {kind!r}" if msg else "message is not a JSON object"}
        await client.ws.send(dumps(reply), text=True)

    async def command(self, user: User, msg: dict[str, Any]) -> dict[str, Any]:
        """Check a console intent against the user's role and send it as a DispatchCommand."""
        req = msg.get("req")
        action = str(msg.get("action", ""))

        def rejected(reason: str) -> dict[str, Any]:
            return {"type": "command_rejected", "req": req, "action": action, "reason": reason}

        if not user.may(action):
            return rejected(f"role {user.role} may not {action or 'do that'}")
        override = bool(msg.get("override"))
        if override and user.role not in OVERRIDE_ROLES:
            return rejected("only a supervisor may override")
        problem = _missing(action, msg, override)
        if problem:
            return rejected(problem)
        incident_id = str(msg.get("incident_id", ""))
        if incident_id not in self.state.incidents:
            return rejected(f"unknown incident {incident_id}")
        try:
            cmd = DispatchCommand(
                command_id=uuid.uuid4().hex, ts=self.state.now(), actor=user.name, action=action,
                incident_id=incident_id, unit_ids=[str(u) for u in msg.get("unit_ids") or []],
                reason=str(msg.get("reason", ""))[:2000], note=str(msg.get("note", ""))[:4000], override=override,
                target_incident_id=msg.get("target_incident_id") or None,
                evidence_ids=[str(e) for e in msg.get("evidence_ids") or []],
            )
        except ValidationError as exc:
            return rejected(f"invalid command: {exc.errors()[0]['msg']}")
        try:
            await self.sink.send(cmd)
        except Exception as exc:  # the broker is down: say so, the dispatcher retries
            log.warning("could not send command %s: %s", cmd.command_id, exc)
            return rejected(f"could not send the command: {exc}")
        log.info("command %s %s %s by %s", cmd.command_id, action, incident_id, user.name)
        return {"type": "command_sent", "req": req, "action": action, "command_id": cmd.command_id}


def _missing(action: str, msg: dict[str, Any], override: bool) -> str | None:
    """What a command of this action needs that the message lacks (checked before dispatch sees it)."""
    if action in ("assign", "reassign") and not msg.get("unit_ids"):
        return "choose at least one unit"
    if action == "note" and not str(msg.get("note", "")).strip():
        return "the note is empty"
    if action == "merge" and not msg.get("target_incident_id"):
        return "choose the incident to merge into"
    if action == "split" and not msg.get("evidence_ids"):
        return "choose the evidence to split off"
    if (override or action in ("false_alarm", "reopen")) and not str(msg.get("reason", "")).strip():
        return "give a reason"
    return None


def _parse(raw: str | bytes) -> dict[str, Any] | None:
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return msg if isinstance(msg, dict) else None
