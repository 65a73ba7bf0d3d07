"""The `cityops dispatch` process: Kafka in, engine, durable store, Kafka out (the only writer of incidents).

Consumes `city.fusion.updates`, `city.dispatch.commands` and `city.units.status` in one consumer group,
plus the whole `city.registry.units`; writes `city.incidents` (full latest state) and
`city.dispatch.events`. At-least-once, made safe: each polled batch is applied by the engine and
committed to the store in one transaction (state, audit, processed ids, outbox) BEFORE the consumer
offsets are committed; outbox rows are deleted only after the broker acknowledged them. After a
kill -9 the restarted process re-reads what was not committed, the engine skips what it already
applied, and the outbox re-sends what may not have gone out. On start it republishes every incident
that is not closed (the embedded broker forgets everything when it restarts). An SLA loop checks
deadlines four times a second and, with `auto_policy` (nearest / optimised), assigns units to incidents
nobody has dispatched yet (`dispatch.auto`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams import catalog
from streams.schemas import (DispatchCommand, DispatchEvent, DispatchEventKind, IncidentStatus, IncidentUpdate,
                             UnitInfo, UnitStatus, decode, encode)
from streams.settings import Settings

from dispatch.auto import auto_assign
from dispatch.engine import Engine
from dispatch.field import FieldSimulator, SimClock
from dispatch.policies import make_policy
from dispatch.store import Outcome, Store, open_store

log = logging.getLogger(__name__)

INPUTS: dict[str, type] = {
    catalog.FUSION_UPDATES.name: IncidentUpdate,
    catalog.DISPATCH_COMMANDS.name: DispatchCommand,
    catalog.UNITS_STATUS.name: UnitStatus,
}
_TOPIC_ORDER = {t: i for i, t in enumerate(INPUTS)}
TICK_S = 0.25  # SLA timer period: breaches fire well within 1 s of their deadline
REFRESH_S = 5.0  # wall seconds between re-rankings of recommendations for incidents awaiting dispatch


class DispatchService:
    def __init__(self, settings: Settings, bootstrap: str, store_url: str | None = None, speedup: float = 1.0,
                 simulate_field: bool = False, seed_fleet: bool | None = None, auto_policy: str = "off") -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.store_url = store_url or settings.store
        self.speedup = speedup
        self.field = FieldSimulator() if simulate_field else None
        self.seed_fleet = os.environ.get("CITYOPS_SEED_FLEET", "0") == "1" if seed_fleet is None else seed_fleet
        self.engine = Engine()
        self.auto = None if auto_policy == "off" else make_policy(auto_policy)
        self.store: Store | None = None
        self.producer: AIOKafkaProducer | None = None
        self.clock = SimClock(speedup)
        self._flush_lock = asyncio.Lock()
        self._dead_letters: list = []  # (record, reason) to send to the input's DLQ before committing offsets
        self.stop = asyncio.Event()

    # -- persistence and publishing ------------------------------------------------------------
    async def persist(self, out: Outcome) -> None:
        """Store first (one transaction), then send the outbox."""
        if out.empty:
            return
        assert self.store is not None
        self.store.commit(out)
        if self.field is not None:
            for inc in out.incidents.values():
                self.field.observe_incident(inc, self.clock.now())
            for u in out.units.values():
                self.field.observe_status(u.to_status())

    async def flush(self) -> int:
        """Send every outbox row, in order; forget them once the broker has them all."""
        assert self.store is not None and self.producer is not None
        async with self._flush_lock:
            sent = 0
            while True:
                rows = self.store.outbox(5000)
                if not rows:
                    return sent
                futs = [await self.producer.send(topic, key=key.encode() if key else None, value=value.encode())
                        for _, topic, key, value in rows]
                await asyncio.gather(*futs)
                self.store.sent(rows[-1][0])
                sent += len(rows)

    async def republish(self) -> int:
        """Every incident that is not closed, as it stands (consumers rebuild their view from this)."""
        assert self.producer is not None
        n = 0
        for inc in self.engine.incidents.values():
            if inc.status is not IncidentStatus.CLOSED:
                await self.producer.send(catalog.INCIDENTS.name, key=inc.incident_id.encode(), value=encode(inc))
                n += 1
        await self.producer.flush()
        return n

    # -- registry ------------------------------------------------------------------------------
    async def _registry_consumer(self, from_beginning: bool) -> AIOKafkaConsumer:
        """A started consumer of the (one-partition) unit registry, outside any group."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                    fetch_max_wait_ms=100)
        await consumer.start()
        tp = TopicPartition(catalog.REGISTRY_UNITS.name, 0)
        consumer.assign([tp])
        await (consumer.seek_to_beginning(tp) if from_beginning else consumer.seek_to_end(tp))
        return consumer

    async def load_registry(self) -> None:
        """Read the unit registry to its end; seed the default fleet when it is empty and asked to."""
        consumer = await self._registry_consumer(from_beginning=True)
        try:
            out = Outcome()
            seen = 0
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                recs = [r for rs in batch.values() for r in rs]
                if not recs:
                    break  # Tansu under-reports end offsets: an empty poll is the reliable "caught up"
                seen += len(recs)
                for r in recs:
                    out.extend(self._apply_raw(UnitInfo, r))
            await self.persist(out)
        finally:
            await consumer.stop()
        if not seen and self.seed_fleet:
            await self._seed()

    async def _seed(self) -> None:
        """Fill an empty registry topic: the units this store knows, or the city's default fleet."""
        from streams.city import load_city

        from dispatch.fleet import default_fleet

        assert self.producer is not None
        known = [u.info for u in self.engine.units.values()]
        fleet = known or default_fleet(load_city(self.settings.city_geojson, self.settings.cell_m))
        out = Outcome()
        for info in fleet:
            await self.producer.send(catalog.REGISTRY_UNITS.name, key=info.unit_id.encode(), value=encode(info))
            out.extend(self.engine.apply(info, self.clock.now()))
        now = self.clock.now()
        for u in self.engine.units.values():  # where every unit is, for screens that start now
            st = u.to_status().model_copy(update={"ts": max(u.ts, now)})
            await self.producer.send(catalog.UNITS_STATUS.name, key=u.unit_id.encode(), value=encode(st))
        await self.producer.flush()
        await self.persist(out)
        log.info("published the fleet to an empty registry: %d units (%s)", len(fleet),
                 "from the store" if known else "default fleet")

    # -- applying input ----------------------------------------------------------------------------
    def _apply_raw(self, model: type, rec) -> Outcome:
        """Decode and apply one record; bad input becomes a refusal event, never an exception."""
        try:
            msg = decode(model, rec.value)
        except ValueError as exc:
            return self._refuse(rec, f"unreadable {model.__name__}: {str(exc).splitlines()[0][:300]}")
        if isinstance(msg, (IncidentUpdate, UnitStatus)):
            self.clock.observe(msg.ts)  # the simulated world's time (console commands carry wall time)
        try:
            return self.engine.apply(msg, self.clock.now())
        except Exception as exc:  # a bug must not stop dispatch: report it and go on
            log.exception("engine failed on %s@%s", rec.topic, rec.offset)
            return self._refuse(rec, f"internal error: {type(exc).__name__}: {exc}")

    def _refuse(self, rec, reason: str) -> Outcome:
        out = Outcome()
        out.events.append(DispatchEvent(event_id=f"bad:{rec.topic}:{rec.partition}:{rec.offset}", ts=self.clock.now(),
                                        kind=DispatchEventKind.COMMAND_REFUSED, reason=reason,
                                        details={"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}))
        self._dead_letters.append((rec, reason))
        return out

    async def _send_dead_letters(self) -> None:
        from streams.validation import dead_letter

        assert self.producer is not None
        for rec, reason in self._dead_letters:
            topic = catalog.BY_NAME.get(rec.topic)
            if topic is not None and topic.dlq:
                dl = dead_letter(rec.topic, rec.value or b"", reason, rec.key, rec.partition, rec.offset)
                await self.producer.send_and_wait(topic.dlq, key=rec.key, value=encode(dl))
        self._dead_letters.clear()

    # -- loops -----------------------------------------------------------------------------------
    async def consume(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(*INPUTS, bootstrap_servers=self.bootstrap, group_id=f"{s.app_id}-dispatch",
                                    enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                                    session_timeout_ms=int(s.session_timeout_s * 1000),
                                    heartbeat_interval_ms=int(s.heartbeat_s * 1000), max_poll_records=500)
        await consumer.start()
        try:
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=500)
                if not batch:
                    continue
                out = Outcome()
                # within a poll: incidents first, then unit reports, then commands (which refer to both)
                for tp, recs in sorted(batch.items(), key=lambda kv: _TOPIC_ORDER[kv[0].topic]):
                    for rec in recs:
                        out.extend(self._apply_raw(INPUTS[tp.topic], rec))
                await self.persist(out)  # 1. durable
                await self._send_dead_letters()
                await consumer.commit()  # 2. only then move the group on
                await self.flush()  # 3. tell the world
        finally:
            await consumer.stop()

    async def follow_registry(self) -> None:
        """New units registered while running."""
        consumer = await self._registry_consumer(from_beginning=False)
        try:
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                out = Outcome()
                for recs in batch.values():
                    for r in recs:
                        out.extend(self._apply_raw(UnitInfo, r))
                if not out.empty:
                    await self.persist(out)
                    await self.flush()
        finally:
            await consumer.stop()

    async def timers(self) -> None:
        next_refresh = 0.0
        while not self.stop.is_set():
            now = self.clock.now()
            out = self.engine.tick(now)
            if time.monotonic() >= next_refresh:  # recommendations follow the fleet every few seconds
                next_refresh = time.monotonic() + REFRESH_S
                out.extend(self.engine.refresh_recommendations(now))
            if self.auto is not None:
                out.extend(auto_assign(self.engine, self.auto, now))
            if not out.empty:
                await self.persist(out)
                await self.flush()
            # sleep to the next deadline (in wall seconds at this speedup), at most one tick
            nxt = self.engine.next_deadline()
            wait = TICK_S if nxt is None else min(TICK_S, max(0.0, (nxt - self.clock.now()) / max(self.speedup, 1e-9)))
            await asyncio.sleep(max(wait, 0.005))

    async def field_loop(self) -> None:
        assert self.field is not None and self.producer is not None
        while not self.stop.is_set():
            for st in self.field.pop_due(self.clock.now()):
                await self.producer.send(catalog.UNITS_STATUS.name, key=st.unit_id.encode(), value=encode(st))
            await asyncio.sleep(0.1)

    async def run(self) -> None:
        self.store = open_store(self.store_url)
        snap = self.store.load()
        self.engine.load(snap)
        if snap.incidents:
            self.clock = SimClock(self.speedup, start=max(i.updated_at for i in snap.incidents.values()))
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=2)
        await self.producer.start()
        try:
            pending = await self.flush()
            n = await self.republish()
            log.info("dispatch: %d incidents loaded (%d republished), %d outbox messages re-sent, store %s",
                     len(snap.incidents), n, pending, _redact(self.store_url))
            await self.load_registry()
            await self.flush()
            tasks = [asyncio.create_task(c) for c in (self.consume(), self.timers(), self.follow_registry())]
            if self.field is not None:
                for u in self.engine.units.values():
                    self.field.observe_unit(u.info)
                tasks.append(asyncio.create_task(self.field_loop()))
            from streams.runtime import mark_ready

            mark_ready("dispatch", self.settings)
            log.info("dispatch ready: %d units, %d open incidents", len(self.engine.units), len(self.engine.open_ids))
            stopper = asyncio.create_task(self.stop.wait())
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            self.stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for t in done:
                if t is not stopper and t.exception():
                    raise t.exception()  # type: ignore[misc]
        finally:
            await self.producer.stop()
            self.store.close()


def _redact(url: str) -> str:
    return url.split("@")[-1] if "://" in url else url


def serve(settings: Settings, bootstrap: str, **kw) -> int:
    """Run the service until SIGINT/SIGTERM."""
    svc = DispatchService(settings, bootstrap, **kw)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, svc.stop.set)
        await svc.run()

    t0 = time.monotonic()
    asyncio.run(main())
    log.info("dispatch stopped after %.0f s", time.monotonic() - t0)
    return 0
