"""The Faust app: agents that move records between the catalog's topics and a `Pipeline`.

Agents are thin on purpose: every decision is in `streams.pipeline` and `detectors/`. Inputs are
taken in batches (`take_events`) so that a batch of gateway messages is scored by the vectorised
detector bank in one step. Readings, video events and calls are keyed by grid cell, so a cell's
sensors (and their detector state) always land on the same worker of the consumer group.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterable

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import catalog, snapshots
from streams.pipeline import Output, Pipeline, Raw
from streams.runtime import mark_ready, record_assignment
from streams.schemas import Alert, CameraInfo, DispatchEvent, SensorInfo, decode, encode
from streams.settings import Settings

log = logging.getLogger(__name__)

BATCH = 2000  # records per take; a reading batch message already holds one cell's readings
WITHIN = 0.1  # seconds to wait for a batch to fill: bounds the latency this adds


def faust_broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


def consumer_timing(settings: Settings) -> dict[str, int]:
    """Group timing for aiokafka consumers (Tansu holds a join for half the session timeout)."""
    return {"session_timeout_ms": int(settings.session_timeout_s * 1000),
            "heartbeat_interval_ms": int(settings.heartbeat_s * 1000)}


def build_app(settings: Settings, bootstrap: str, pipeline: Pipeline) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=faust_broker_url(bootstrap),
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_allow_declare=False,  # topics come from the catalog (streams.admin), never auto-created
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_rebalance_timeout=max(10.0, settings.session_timeout_s * 2),
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        store="memory://",
        datadir=str(settings.var_dir / "faust"),  # Faust writes here; keep it out of the working directory
        producer_linger_ms=5,
    )

    def topic(t: catalog.Topic | str) -> faust.TopicT:
        name = t if isinstance(t, str) else t.name
        return app.topic(name, key_type=bytes, value_type=bytes, internal=False)

    alerts_out = topic(catalog.ALERTS)
    updates_out = topic(catalog.FUSION_UPDATES)
    metrics_out = topic(catalog.METRICS)
    dlqs = {t.name: topic(t.dlq) for t in catalog.INPUT_TOPICS if t.dlq}
    registries_loaded = asyncio.Event()

    async def publish(out: Output) -> None:
        for a in out.alerts:
            await alerts_out.send(key=a.district.encode(), value=encode(a))
        for dl in out.dead:
            await dlqs[dl.topic].send(key=(dl.key or "").encode() or None, value=encode(dl))
            log.info("dead letter on %s: %s", dl.topic, dl.reason)
        for u in out.updates:
            await updates_out.send(key=u.incident_id.encode(), value=encode(u))

    def raws(events: Iterable[faust.EventT]) -> list[Raw]:
        return [Raw(e.value, e.key, e.message.partition, e.message.offset) for e in events]

    def input_agent(t: catalog.Topic, handle: Callable[[list[Raw]], Output]) -> None:
        async def agent(stream: faust.StreamT) -> None:
            async for events in stream.take_events(BATCH, within=WITHIN):
                await registries_loaded.wait()
                try:
                    out = handle(raws(events))
                except Exception:  # a bug must not stop the city: refuse the batch, keep going
                    log.exception("pipeline failed on a batch of %s", t.name)
                    out = Output(dead=[_crash_letter(t.name, r) for r in raws(events)])
                await publish(out)

        agent.__name__ = f"ingest_{t.name.replace('.', '_')}"
        app.agent(topic(t), name=agent.__name__)(agent)

    input_agent(catalog.SENSOR_READINGS, pipeline.readings)
    input_agent(catalog.VIDEO_EVENTS, pipeline.video)
    input_agent(catalog.HOTLINE_CALLS, pipeline.hotline)

    @app.agent(topic(catalog.ALERTS), name="fuse_alerts")
    async def fuse_alerts(stream: faust.StreamT) -> None:
        async for events in stream.take_events(500, within=WITHIN):
            alerts = []
            for e in events:
                try:
                    alerts.append(decode(Alert, e.value))
                except ValueError as exc:  # city.alerts is written by our stages; a stranger's bytes are logged
                    log.warning("refused a record on %s at offset %s: %s", catalog.ALERTS.name, e.message.offset, exc)
            await publish(Output(updates=pipeline.fuse(alerts)))

    @app.timer(1.0)
    async def tick() -> None:
        await publish(pipeline.tick())

    @app.timer(max(1.0, settings.snapshot_every_s))
    async def save_detectors() -> None:
        """What the sensor models learnt survives a restart (streams.snapshots)."""
        path = settings.detector_snapshots / f"{settings.worker_name}.npz"
        state = pipeline.sensor_stage.bank.state()  # a copy taken between two batches: consistent
        try:
            # a megacity's snapshot is ~150 MB at 100k sensors: written off the event loop
            await asyncio.to_thread(snapshots.write, state, path)
        except OSError as exc:  # a full or read-only disk costs the snapshot, never the stream
            log.warning("could not save the detector snapshot %s: %s", path, exc)

    @app.timer(2.0)
    async def metrics() -> None:
        for m in pipeline.metrics():
            await metrics_out.send(key=m.district.encode(), value=encode(m))

    @app.task
    async def follow_registries() -> None:
        """Every worker keeps the whole sensor and camera registry (small, compacted topics)."""
        await _follow(bootstrap, [catalog.REGISTRY_SENSORS.name, catalog.REGISTRY_CAMERAS.name],
                      lambda rec: _apply_registry(pipeline, rec), registries_loaded)

    @app.task
    async def follow_dispatch() -> None:
        """Merges and splits decided by dispatchers keep fusion's clusters in step."""
        await _follow(bootstrap, [catalog.DISPATCH_EVENTS.name],
                      lambda rec: _apply_dispatch_event(pipeline, rec), None, from_beginning=False)

    @app.on_rebalance_complete.connect
    async def on_rebalance(sender: faust.App, **kwargs: object) -> None:
        held: dict[str, list[int]] = {}
        for tp in app.consumer.assignment():
            held.setdefault(tp.topic, []).append(tp.partition)
        record_assignment("worker", settings, {t: sorted(p) for t, p in held.items()})
        mark_ready("worker", settings)

    return app


def _crash_letter(topic_name: str, r: Raw):
    from streams.validation import dead_letter

    return dead_letter(topic_name, r.value or b"", "internal error while processing (see worker log)",
                       r.key, r.partition, r.offset)


def _apply_registry(pipeline: Pipeline, rec) -> None:
    try:
        if rec.topic == catalog.REGISTRY_SENSORS.name:
            pipeline.register_sensor(decode(SensorInfo, rec.value))
        else:
            pipeline.register_camera(decode(CameraInfo, rec.value))
    except ValueError as exc:
        log.warning("refused registry record %s@%s: %s", rec.topic, rec.offset, exc)


def _apply_dispatch_event(pipeline: Pipeline, rec) -> None:
    try:
        ev = decode(DispatchEvent, rec.value)
    except ValueError as exc:
        log.warning("refused dispatch event at offset %s: %s", rec.offset, exc)
        return
    action = ev.details.get("action")
    if ev.kind.value != "command_applied":
        return
    evidence = [str(x) for x in ev.details.get("evidence_ids", [])]
    if action == "merge" and ev.details.get("target_incident_id"):
        pipeline.fuser.apply_merge(ev.incident_id, str(ev.details["target_incident_id"]))
    elif action == "split" and ev.details.get("new_incident_id"):
        pipeline.fuser.apply_split(ev.incident_id, evidence, str(ev.details["new_incident_id"]))
    elif action == "reopen" and ev.details.get("unmerged_from"):
        # reopening a merged incident takes its evidence back off the target: the same as a split
        pipeline.fuser.apply_split(str(ev.details["unmerged_from"]), evidence, ev.incident_id)


async def _follow(bootstrap: str, topics: list[str], apply: Callable[[object], None],
                  loaded: asyncio.Event | None, from_beginning: bool = True) -> None:
    """Read whole topics outside any consumer group, forever; set `loaded` once caught up."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        parts = []
        for t in topics:
            for p in sorted(consumer.partitions_for_topic(t) or await _partitions(consumer, t)):
                parts.append(TopicPartition(t, p))
        consumer.assign(parts)
        if from_beginning:
            await consumer.seek_to_beginning(*parts)
        else:
            await consumer.seek_to_end(*parts)
        idle_polls = 0
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            n = 0
            for records in batch.values():
                for rec in records:
                    apply(rec)
                    n += 1
            # Tansu under-reports end offsets, so "caught up" is an empty poll, not a position check
            idle_polls = idle_polls + 1 if n == 0 else 0
            if loaded is not None and not loaded.is_set() and idle_polls >= 1:
                loaded.set()
                log.info("registries loaded")
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return parts
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} does not exist; run `cityops topics create`")


def run_worker(app: faust.App, loglevel: str = "warn") -> None:
    """Run the Faust worker in this process (blocks). `--without-web`: no port clash between workers."""
    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", loglevel]
    app.main()
