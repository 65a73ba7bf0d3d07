"""How long a consumer-group join takes on the broker, with client defaults and with cityops' settings.

Tansu holds a JoinGroup for half the session timeout, so the group timing decides start-up time.
Each case starts a fresh aiokafka consumer in a new group and times start → first assignment.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer

from streams.catalog import SENSOR_READINGS

#: (label, session timeout ms, heartbeat ms, rebalance timeout ms)
CASES = [
    ("faust defaults (session 60 s)", 60_000, 3_000, 60_000),
    ("aiokafka defaults (session 10 s)", 10_000, 3_000, None),
    ("cityops (session 6 s, heartbeat 1 s)", 6_000, 1_000, 12_000),
]


async def time_join(bootstrap: str, session_ms: int, heartbeat_ms: int, rebalance_ms: int | None) -> float:
    kw = {"rebalance_timeout_ms": rebalance_ms} if rebalance_ms else {}
    consumer = AIOKafkaConsumer(SENSOR_READINGS.name, bootstrap_servers=bootstrap, group_id=f"join-{uuid.uuid4().hex[:8]}",
                                session_timeout_ms=session_ms, heartbeat_interval_ms=heartbeat_ms, **kw)
    t0 = time.perf_counter()
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.02)
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def run(bootstrap: str, skip_slow: bool = False) -> dict[str, float]:
    results = {}
    for label, s, h, r in CASES:
        if skip_slow and s > 10_000:
            continue
        results[label] = round(asyncio.run(time_join(bootstrap, s, h, r)), 2)
    return results
