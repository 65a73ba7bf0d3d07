"""The dashboard server in-process (no Kafka): HTTP routes, auth, snapshot/deltas/resume, commands."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboard.protocol import MAX_CLIENT_MESSAGE
from dashboard.server import MemorySink
from tests.dashboard_helpers import (
    SCREEN_TOKEN, delta_items, incident, recv_json, recv_until, running, shows_incident,
)


async def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    def go():
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)
    return await asyncio.to_thread(go)


async def _screen(port: int, last_seq=None, **kw):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", **kw)
    await ws.send(json.dumps({"type": "hello", "token": SCREEN_TOKEN, "last_seq": last_seq}))
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def _login(port: int, user: str, password: str):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws")
    await ws.send(json.dumps({"type": "login", "user": user, "password": password}))
    ok = await recv_json(ws)
    assert ok["type"] == "login_ok", ok
    welcome = await recv_json(ws)
    assert welcome["role"] == ok["role"]
    await recv_until(ws, lambda m: m["type"] == "snapshot")
    return ws, ok["token"]


async def test_http_pages_plotly_health_and_no_traversal():
    async with running() as s:
        status, body, h = await _get(s.port, "/vendor/plotly.min.js")
        assert status == 200 and body.startswith(b"/**") and len(body) > 1_000_000
        status, gz, h = await _get(s.port, "/vendor/plotly.min.js", {"Accept-Encoding": "gzip"})
        assert h.get("Content-Encoding") == "gzip" and len(gz) < len(body) / 3
        for page in ("/bigscreen.html", "/console.html", "/common.js", "/style.css"):
            assert (await _get(s.port, page))[0] == 200, page
        status, body, _ = await _get(s.port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body, _ = await _get(s.port, "/api/map.json")
        assert len(json.loads(body)["data"][0]["locations"]) == 11
        assert (await _get(s.port, "/../dashboard/auth.py"))[0] == 404
        assert (await _get(s.port, "/"))[0] in (200, 302)


async def test_snapshot_then_deltas_in_sequence():
    async with running() as s:
        s.ingest(s.state.apply_incident(incident("a")))
        ws = await _screen(s.port)
        snap = await recv_json(ws)
        assert snap["type"] == "snapshot" and [i["incident_id"] for i in snap["data"]["incidents"]] == ["a"]
        s.ingest(s.state.apply_incident(incident("b")))
        msg = await recv_until(ws, lambda m: any(i["key"] == "incident:b" for i in delta_items(m, "incident")))
        item = next(i for i in msg["items"] if i["key"] == "incident:b")
        assert item["seq"] > snap["seq"] and item["data"]["status"] == "new"
        await ws.close()


async def test_resume_replays_missed_deltas_and_old_sequence_gets_snapshot():
    async with running() as s:
        ws = await _screen(s.port)
        snap = await recv_json(ws)
        await ws.close()
        s.ingest(s.state.apply_incident(incident("missed")))
        ws = await _screen(s.port, last_seq=snap["seq"])
        msg = await recv_json(ws)
        assert msg["type"] == "deltas" and any(i["key"] == "incident:missed" for i in msg["items"])
        await ws.close()
        ws = await _screen(s.port, last_seq=10_000_000)  # unknown to this server: fresh snapshot
        assert (await recv_json(ws))["type"] == "snapshot"
        await ws.close()


async def test_bad_token_origin_and_oversized_message_are_refused():
    async with running() as s:
        ws = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws")
        await ws.send(json.dumps({"type": "hello", "token": "forged"}))
        assert (await recv_json(ws))["type"] == "error"
        with pytest.raises(ConnectionClosed) as exc:
            await ws.recv()
        assert exc.value.rcvd.code == 4401
        with pytest.raises(InvalidStatus) as bad_origin:
            await websockets.connect(f"ws://127.0.0.1:{s.port}/ws", origin="http://evil.example")
        assert bad_origin.value.response.status_code == 403
        ok = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws", origin=f"http://127.0.0.1:{s.port}")
        await ok.close()
        ws = await _screen(s.port)
        await recv_json(ws)
        await ws.send("x" * (MAX_CLIENT_MESSAGE + 1))
        with pytest.raises(ConnectionClosed) as big:
            while True:
                await ws.recv()
        assert big.value.rcvd.code == 1009  # message too big


async def test_login_failures_then_success():
    async with running() as s:
        ws = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws")
        await ws.send(json.dumps({"type": "login", "user": "dora", "password": "nope"}))
        assert (await recv_json(ws))["type"] == "login_failed"
        await ws.send(json.dumps({"type": "login", "user": "dora", "password": "d-pass"}))
        ok = await recv_json(ws)
        assert ok["type"] == "login_ok" and ok["role"] == "dispatcher"
        await ws.close()
        # the session token works for a reconnect
        ws2 = await websockets.connect(f"ws://127.0.0.1:{s.port}/ws")
        await ws2.send(json.dumps({"type": "hello", "token": ok["token"]}))
        assert (await recv_json(ws2))["user"] == "dora"
        await ws2.close()


async def test_commands_are_wrapped_with_actor_and_checked_by_role():
    sink = MemorySink()
    async with running(sink=sink) as s:
        s.ingest(s.state.apply_incident(incident("a")))
        disp, _ = await _login(s.port, "dora", "d-pass")
        await disp.send(json.dumps({"type": "command", "req": "r1", "action": "acknowledge", "incident_id": "a"}))
        sent = await recv_until(disp, lambda m: m["type"].startswith("command"))
        assert sent["type"] == "command_sent" and sent["req"] == "r1"
        cmd = sink.commands[-1]
        assert (cmd.actor, cmd.action.value, cmd.incident_id, cmd.command_id) == ("dora", "acknowledge", "a", sent["command_id"])
        for bad, why in [({"action": "reopen", "reason": "x"}, "may not"),
                         ({"action": "resolve", "override": True, "reason": "x"}, "supervisor"),
                         ({"action": "assign"}, "unit"),
                         ({"action": "false_alarm"}, "reason"),
                         ({"action": "acknowledge", "incident_id": "nope"}, "unknown incident")]:
            await disp.send(json.dumps({"type": "command", "incident_id": "a", **bad}))
            r = await recv_until(disp, lambda m: m["type"].startswith("command"))
            assert r["type"] == "command_rejected" and why in r["reason"], (bad, r)
        assert len(sink.commands) == 1
        viewer, _ = await _login(s.port, "vera", "v-pass")
        await viewer.send(json.dumps({"type": "command", "action": "acknowledge", "incident_id": "a"}))
        assert (await recv_until(viewer, lambda m: m["type"].startswith("command")))["type"] == "command_rejected"
        sup, _ = await _login(s.port, "sam", "s-pass")
        await sup.send(json.dumps({"type": "command", "action": "resolve", "incident_id": "a", "override": True,
                                   "reason": "unit confirmed by phone"}))
        assert (await recv_until(sup, lambda m: m["type"].startswith("command")))["type"] == "command_sent"
        assert sink.commands[-1].override and sink.commands[-1].actor == "sam"
        await sup.send(json.dumps({"type": "detail", "incident_id": "a"}))
        d = await recv_until(sup, lambda m: m["type"] == "detail")
        assert d["data"]["incident"]["incident_id"] == "a"
        for ws in (disp, viewer, sup):
            await ws.close()


async def test_a_stalled_client_does_not_delay_others():
    async with running(max_pending=50) as s:
        stalled = await _screen(s.port)
        stalled.transport.pause_reading()  # never reads again: its socket buffer fills up
        fast = await _screen(s.port, max_size=None)
        await recv_json(fast)
        big_why = "x" * 20_000
        for i in range(300):  # ten flushes of 30 incidents each
            s.ingest(s.state.apply_incident(incident(f"i{i}", why=big_why)))
            if i % 30 == 29:
                await asyncio.sleep(s.flush_interval_s * 1.5)
        await recv_until(fast, lambda m: shows_incident(m, "i299"), 5)
        assert len(s.clients) == 2
        stalled_client = next(c for ws, c in s.clients.items() if ws.transport.get_write_buffer_size() > 0)
        # the stalled client's memory is bounded: its queue overflowed into "send a snapshot later"
        assert stalled_client.queue.overflows >= 1 and len(stalled_client.queue) <= 50
        await fast.close()
        stalled.transport.abort()
