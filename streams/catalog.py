"""The topic catalog: every Kafka topic cityops uses, with its key, partitions, policy and schema.

This is the one place topics are named. Producers, consumers, the admin tool, the docs
(`cityops topics`) and the tests all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str  # what the message key holds
    schema: str  # schema name in streams.schemas.SCHEMAS
    version: int
    description: str
    compacted: bool = False
    #: None means "the configured default" (keyed-by-place topics scale with workers).
    partitions: int | None = None
    #: Dead-letter topic for input the validators refuse.
    dlq: str | None = None

    def partition_count(self, default: int) -> int:
        return self.partitions if self.partitions is not None else default


def _dlq(name: str) -> str:
    return f"{name}.dlq"


SENSOR_READINGS = Topic(
    "city.sensor.readings", "grid cell id", "sensor_batch", 1,
    "Sensor readings, one message per gateway batch (many readings of one cell) or a single reading.",
    dlq=_dlq("city.sensor.readings"),
)
VIDEO_EVENTS = Topic(
    "city.video.events", "grid cell id", "video_event", 1,
    "Video-analytics events from cameras (crowd, smoke/fire, standing water, ...).",
    dlq=_dlq("city.video.events"),
)
HOTLINE_CALLS = Topic(
    "city.hotline.calls", "grid cell id", "hotline_call", 1,
    "Citizen hotline (12345 / 311) calls with free text and place.",
    dlq=_dlq("city.hotline.calls"),
)
ALERTS = Topic(
    "city.alerts", "district id", "alert", 1,
    "Alerts raised by detectors (sensor, video, hotline), operational or maintenance.",
)
FUSION_UPDATES = Topic(
    "city.fusion.updates", "incident id", "incident_update", 1,
    "Fusion's view of an incident (opened, evidence attached, severity raised); dispatch applies it.",
)
INCIDENTS = Topic(
    "city.incidents", "incident id", "incident", 1,
    "Latest full state of every incident, written only by dispatch.", compacted=True,
)
DISPATCH_COMMANDS = Topic(
    "city.dispatch.commands", "incident id", "dispatch_command", 1,
    "Commands from consoles and tools: acknowledge, assign, escalate, resolve, ...",
    dlq=_dlq("city.dispatch.commands"),
)
DISPATCH_EVENTS = Topic(
    "city.dispatch.events", "incident id", "dispatch_event", 1,
    "What dispatch did: commands applied or refused, SLA breaches and reminders, recommendations.",
)
UNITS_STATUS = Topic(
    "city.units.status", "unit id", "unit_status", 1,
    "Field units' status and position.", dlq=_dlq("city.units.status"),
)
REGISTRY_SENSORS = Topic(
    "city.registry.sensors", "sensor id", "sensor_info", 1, "Sensor registry.", compacted=True, partitions=1,
)
REGISTRY_CAMERAS = Topic(
    "city.registry.cameras", "camera id", "camera_info", 1, "Camera registry.", compacted=True, partitions=1,
)
REGISTRY_UNITS = Topic(
    "city.registry.units", "unit id", "unit_info", 1, "Unit registry.", compacted=True, partitions=1,
)
METRICS = Topic(
    "city.metrics", "district id", "city_metrics", 1,
    "Per-district live figures from the workers (readings/s, sensors reporting, theme values).",
)
SIM_TRUTH = Topic(
    "city.sim.truth", "scenario id", "scenario_truth", 1,
    "Ground truth of the simulator's injected scenarios (for evaluation only).", partitions=1,
)

INPUT_TOPICS: tuple[Topic, ...] = (SENSOR_READINGS, VIDEO_EVENTS, HOTLINE_CALLS, DISPATCH_COMMANDS, UNITS_STATUS)

TOPICS: tuple[Topic, ...] = (
    SENSOR_READINGS, VIDEO_EVENTS, HOTLINE_CALLS, ALERTS, FUSION_UPDATES, INCIDENTS,
    DISPATCH_COMMANDS, DISPATCH_EVENTS, UNITS_STATUS,
    REGISTRY_SENSORS, REGISTRY_CAMERAS, REGISTRY_UNITS, METRICS, SIM_TRUTH,
)

BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}


@dataclass(frozen=True)
class TopicSpec:
    """What the admin creates: a concrete topic with concrete partitions and config."""

    name: str
    partitions: int
    config: dict[str, str]


def dead_letter_topic(topic: Topic) -> Topic:
    assert topic.dlq is not None
    return Topic(topic.dlq, "original key", "dead_letter", 1, f"Refused messages of {topic.name}, with the reason.")


def all_specs(default_partitions: int) -> list[TopicSpec]:
    """Every topic to create, dead-letter topics included."""
    specs = []
    for t in TOPICS:
        cfg = {"cleanup.policy": "compact" if t.compacted else "delete"}
        specs.append(TopicSpec(t.name, t.partition_count(default_partitions), cfg))
        if t.dlq:
            specs.append(TopicSpec(t.dlq, 1, {"cleanup.policy": "delete"}))
    return specs
