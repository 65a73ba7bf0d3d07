"""Kafka in and out of the dashboard: consume what the screens show, produce console commands.

The consumer uses no consumer group (every dashboard replica reads everything, so it is a stateless
fan-out server and never waits for a group join): it assigns every partition of the topics it shows,
reads the compacted and state-like topics from the beginning to rebuild the view, and the live
figures (metrics) from the end. Undecodable messages are logged with their topic and offset and
counted in /healthz; they never stop the loop (their producers' DLQs hold the originals).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from dashboard.server import DashboardServer
from dashboard.state import METRICS_HORIZON_S, DashboardState, Delta
from streams import catalog
from streams.schemas import (
    Alert, DispatchCommand, DispatchEvent, DistrictMetrics, Incident, Message, UnitInfo, UnitStatus, decode, encode,
)

log = logging.getLogger(__name__)

#: How far back the live figures (metrics) are read at start: the state's metrics horizon.
METRICS_BACKLOG_S = METRICS_HORIZON_S

#: topic -> (model, how the state applies it, read from the beginning?)
ROUTES: dict[str, tuple[type[Message], Callable[[DashboardState, Any], list[Delta]], bool]] = {
    catalog.REGISTRY_UNITS.name: (UnitInfo, DashboardState.apply_unit_info, True),
    catalog.INCIDENTS.name: (Incident, DashboardState.apply_incident, True),
    catalog.DISPATCH_EVENTS.name: (DispatchEvent, DashboardState.apply_event, True),
    catalog.UNITS_STATUS.name: (UnitStatus, DashboardState.apply_unit_status, True),
    catalog.ALERTS.name: (Alert, DashboardState.apply_alert, True),
    catalog.METRICS.name: (DistrictMetrics, DashboardState.apply_metrics, False),
}


class KafkaCommandSink:
    """Sends DispatchCommands to city.dispatch.commands, keyed by incident id, and waits for the ack."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def send(self, command: DispatchCommand) -> None:
        await self.producer.send_and_wait(catalog.DISPATCH_COMMANDS.name, encode(command),
                                          key=command.incident_id.encode())


class KafkaFeed:
    """Consumes the dashboard's topics into a DashboardServer until stopped."""

    def __init__(self, bootstrap: str, server: DashboardServer) -> None:
        self.bootstrap = bootstrap
        self.server = server
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.bad = Counter()
        self.consumed = 0
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> KafkaCommandSink:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0, acks=1)
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                         auto_offset_reset="earliest", fetch_max_wait_ms=50)
        await self.consumer.start()
        parts: list[TopicPartition] = []
        for topic in ROUTES:
            ps = self.consumer.partitions_for_topic(topic)
            if ps is None:
                await self.consumer._client.force_metadata_update()  # noqa: SLF001 - first lookup may be empty
                ps = self.consumer.partitions_for_topic(topic) or set()
            if not ps:
                log.warning("topic %s does not exist; create the topics first (cityops topics create)", topic)
            parts += [TopicPartition(topic, p) for p in sorted(ps)]
        self.consumer.assign(parts)
        live = [tp for tp in parts if not ROUTES[tp.topic][2]]
        if live:
            await self._seek_back(live, METRICS_BACKLOG_S)
        await self.consumer.seek_to_beginning(*[tp for tp in parts if ROUTES[tp.topic][2]])
        self._ends = await self.consumer.end_offsets([tp for tp in parts if ROUTES[tp.topic][2]])
        self._task = asyncio.create_task(self._run())
        return KafkaCommandSink(self.producer)

    async def _seek_back(self, parts: list[TopicPartition], seconds: float) -> None:
        """Start live topics `seconds` back (the metrics horizon), or at the end if the broker cannot say."""
        assert self.consumer is not None
        try:
            found = await self.consumer.offsets_for_times({tp: int((time.time() - seconds) * 1000) for tp in parts})
        except Exception as exc:  # e.g. a broker without timestamp lookups
            log.info("cannot look up offsets by time (%s); live topics start at the end", exc)
            found = {}
        await self.consumer.seek_to_end(*[tp for tp in parts if not found.get(tp)])
        for tp, ot in found.items():
            if ot is not None:
                self.consumer.seek(tp, ot.offset)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self.consumer, self.producer):
            if client is not None:
                await client.stop()

    async def _run(self) -> None:
        assert self.consumer is not None
        state = self.server.state
        while True:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                model, apply, _ = ROUTES[tp.topic]
                for rec in records:
                    try:
                        msg = decode(model, rec.value)
                    except (ValidationError, ValueError) as exc:
                        self.bad[tp.topic] += 1
                        log.warning("undecodable %s message at %s/%s: %s", tp.topic, tp.partition, rec.offset,
                                    str(exc).splitlines()[0])
                        continue
                    self.server.ingest(apply(state, msg))
                    self.consumed += 1
            self.server.health.update(kafka_consumed=self.consumed, kafka_bad=dict(self.bad),
                                      kafka_caught_up=self.caught_up.is_set())
            if not self.caught_up.is_set() and await self._is_caught_up():
                self.caught_up.set()

    async def _is_caught_up(self) -> bool:
        assert self.consumer is not None
        # Tansu under-reports end offsets (see DESIGN.md), so "caught up" is a hint, not a guarantee.
        for tp, end in self._ends.items():
            if await self.consumer.position(tp) < end:
                return False
        return True
