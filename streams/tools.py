"""Synchronous tools for stream developers (kafka-python): produce JSON to a topic, tail a topic."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams import catalog
from streams.schemas import SCHEMAS

#: The field whose value becomes the key when the caller gives none, per catalog schema.
KEY_FIELDS = {
    "sensor_batch": "cell", "video_event": "cell", "hotline_call": "cell", "alert": "district",
    "incident_update": "incident_id", "incident": "incident_id", "dispatch_command": "incident_id",
    "dispatch_event": "incident_id", "unit_status": "unit_id", "sensor_info": "sensor_id",
    "camera_info": "camera_id", "unit_info": "unit_id", "city_metrics": "district",
    "scenario_truth": "scenario_id",
}


@dataclass
class ProduceResult:
    sent: int = 0
    errors: list[str] = field(default_factory=list)


def _schema_of(topic: str) -> str | None:
    t = catalog.BY_NAME.get(topic)
    if t is not None:
        return t.schema
    if topic.endswith(".dlq"):
        return "dead_letter"
    return None


def produce(bootstrap: str, topic: str, lines: list[str], key: str | None = None,
            validate: bool = False) -> ProduceResult:
    """Send each JSON line to `topic`; refuse (and report) lines that are not JSON or fail `validate`."""
    schema = _schema_of(topic)
    if schema is None:
        return ProduceResult(errors=[f"{topic} is not in the topic catalog (see `cityops topics`)"])
    model = SCHEMAS[schema]
    result = ProduceResult()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for n, line in enumerate(lines, 1):
            try:
                doc = json.loads(line)
            except ValueError as exc:
                result.errors.append(f"line {n}: not JSON: {exc}")
                continue
            if validate:
                try:
                    model.model_validate(doc)
                except ValueError as exc:
                    result.errors.append(f"line {n}: {exc}".replace("\n", " "))
                    continue
            k = key if key is not None else (doc.get(KEY_FIELDS.get(schema, "")) if isinstance(doc, dict) else None)
            producer.send(topic, key=str(k).encode() if k is not None else None, value=line.encode())
            result.sent += 1
        producer.flush(10)
    finally:
        producer.close(5)
    return result


def _render(topic: str, value: bytes) -> str:
    """One JSON line; a dead letter also shows its original bytes decoded where they are text."""
    try:
        doc = json.loads(value)
    except ValueError:
        return json.dumps({"undecodable_b64": base64.b64encode(value).decode()})
    if topic.endswith(".dlq") and isinstance(doc, dict) and "original_b64" in doc:
        raw = base64.b64decode(doc["original_b64"])
        try:
            doc["original"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return json.dumps(doc, ensure_ascii=False)


def tail(bootstrap: str, topic: str, max_messages: int = 0, from_beginning: bool = False,
         idle_timeout: float = 0.0) -> Iterator[str]:
    """Yield a topic's messages as JSON lines, outside any consumer group (it never moves offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise SystemExit(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(*tps)
        n = 0
        last = time.monotonic()
        while True:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                for rec in records:
                    yield _render(topic, rec.value)
                    n += 1
                    last = time.monotonic()
                    if max_messages and n >= max_messages:
                        return
            if idle_timeout and time.monotonic() - last > idle_timeout:
                return
    finally:
        consumer.close()
