"""Through a real broker: an Incident on city.incidents reaches a WebSocket client, and a console
action comes out as a DispatchCommand on city.dispatch.commands."""

from __future__ import annotations

import asyncio
import json
import uuid

import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dashboard.kafka_io import KafkaFeed
from streams import catalog
from streams.schemas import DispatchCommand, DispatchEvent, decode, encode
from tests.dashboard_helpers import incident, make_server, recv_json, recv_until, shows_incident


async def test_incident_from_kafka_reaches_client_and_action_becomes_command(broker):
    server = make_server()
    feed = KafkaFeed(broker, server)
    server.sink = await feed.start()
    await server.start("127.0.0.1", 0)
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    commands = AIOKafkaConsumer(catalog.DISPATCH_COMMANDS.name, bootstrap_servers=broker,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await commands.start()
    try:
        await commands.seek_to_end()
        iid = f"kafka-{uuid.uuid4().hex[:8]}"
        ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws")
        await ws.send(json.dumps({"type": "login", "user": "dora", "password": "d-pass"}))
        assert (await recv_json(ws))["type"] == "login_ok"
        await producer.send_and_wait(catalog.INCIDENTS.name, encode(incident(iid)), key=iid.encode())
        await recv_until(ws, lambda m: shows_incident(m, iid), timeout=10)

        await ws.send(json.dumps({"type": "command", "req": "k1", "action": "assign", "incident_id": iid,
                                  "unit_ids": ["fire-7"]}))
        sent = await recv_until(ws, lambda m: m["type"].startswith("command"), timeout=10)
        assert sent["type"] == "command_sent", sent
        got = None
        deadline = asyncio.get_running_loop().time() + 10
        while got is None and asyncio.get_running_loop().time() < deadline:
            for records in (await commands.getmany(timeout_ms=500)).values():
                for rec in records:
                    cmd = decode(DispatchCommand, rec.value)
                    if cmd.command_id == sent["command_id"]:
                        got = (rec.key, cmd)
        assert got is not None, "command never reached city.dispatch.commands"
        key, cmd = got
        assert key == iid.encode() and cmd.actor == "dora" and cmd.action.value == "assign" and cmd.unit_ids == ["fire-7"]

        # dispatch's refusal comes back on city.dispatch.events and reaches the console
        refusal = DispatchEvent(event_id=uuid.uuid4().hex, ts=cmd.ts, kind="command_refused", incident_id=iid,
                                command_id=cmd.command_id, actor="dispatch", reason="unit fire-7 is busy")
        await producer.send_and_wait(catalog.DISPATCH_EVENTS.name, encode(refusal), key=iid.encode())
        ev = await recv_until(ws, lambda m: any(i["kind"] == "event" and i["data"]["command_id"] == cmd.command_id
                                                for i in m.get("items", [])), timeout=10)
        assert ev

        # a malformed incident is logged and counted, and the feed keeps going
        await producer.send_and_wait(catalog.INCIDENTS.name, b"{not json", key=b"bad")
        iid2 = iid + "-2"
        await producer.send_and_wait(catalog.INCIDENTS.name, encode(incident(iid2)), key=iid2.encode())
        await recv_until(ws, lambda m: shows_incident(m, iid2), timeout=10)
        assert feed.bad[catalog.INCIDENTS.name] >= 1
        await ws.close()
    finally:
        await commands.stop()
        await producer.stop()
        await server.stop()
        await feed.stop()


async def test_console_action_round_trips_through_the_real_dispatch_service(broker, tmp_path):
    """Fusion update → dispatch → city.incidents → screen; console acknowledge → dispatch → screen."""
    import time

    from dispatch.service import DispatchService
    from streams.schemas import IncidentUpdate
    from streams.settings import Settings

    settings = Settings(app_id=f"dash-{uuid.uuid4().hex[:6]}", session_timeout_s=2.0, heartbeat_s=0.5,
                        var_dir=tmp_path)
    svc = DispatchService(settings, broker, store_url=str(tmp_path / "dispatch.sqlite"))
    svc_task = asyncio.create_task(svc.run())
    server = make_server()
    feed = KafkaFeed(broker, server)
    server.sink = await feed.start()
    await server.start("127.0.0.1", 0)
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        iid = f"e2e-{uuid.uuid4().hex[:8]}"
        now = time.time()
        update = IncidentUpdate(incident_id=iid, revision=1, ts=now, category="waterlogging", severity=3, priority=2,
                                cell="r050c060", district="440104", lat=23.13, lon=113.28, opened_at=now - 30,
                                why="water level rise; 3 calls", sources=["sensor", "hotline"])
        await producer.send_and_wait(catalog.FUSION_UPDATES.name, encode(update), key=iid.encode())
        screen = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws")
        await screen.send(json.dumps({"type": "hello", "token": "screen-token-for-tests"}))
        console = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws")
        await console.send(json.dumps({"type": "login", "user": "dora", "password": "d-pass"}))
        await recv_until(screen, lambda m: shows_incident(m, iid, "new"), timeout=30)  # group join + dispatch
        await recv_until(console, lambda m: shows_incident(m, iid, "new"), timeout=10)
        await console.send(json.dumps({"type": "command", "req": "e1", "action": "acknowledge", "incident_id": iid}))
        sent = await recv_until(console, lambda m: m["type"].startswith("command"), timeout=10)
        assert sent["type"] == "command_sent", sent
        await recv_until(screen, lambda m: shows_incident(m, iid, "acknowledged"), timeout=15)
        inc = server.state.incidents[iid]
        assert inc["acknowledged_at"] is not None
        await screen.close()
        await console.close()
    finally:
        svc.stop.set()
        await asyncio.wait_for(svc_task, 20)
        await producer.stop()
        await server.stop()
        await feed.stop()
