"""Every message cityops puts on a topic, as pydantic models: the one schema module.

Each model carries `schema_version`; `SCHEMAS` maps the catalog's schema names to models, so
`streams.catalog` + this module are the full contract for stream developers. Messages are JSON
(UTF-8) on the wire; `encode` / `decode` are the only (de)serialisers.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

M = TypeVar("M", bound=BaseModel)


class Message(BaseModel):
    """Base: unknown fields are kept out (forbid typos), values are validated strictly enough."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    schema_version: int = 1


#: A finite number; checked by pydantic's core, not per item in Python (readings are the hot path).
Finite = Annotated[float, Field(allow_inf_nan=False)]


# ---------------------------------------------------------------- registries

class SensorKind(str, Enum):
    WATER_LEVEL = "water_level"  # metres above the usual dry level of a drain / underpass
    RAINFALL = "rainfall"  # mm per 5 minutes
    PM25 = "pm25"  # µg/m³
    TRAFFIC_SPEED = "traffic_speed"  # km/h
    MANHOLE_TILT = "manhole_tilt"  # degrees
    SMOKE = "smoke"  # obscuration %/m
    WATER_PRESSURE = "water_pressure"  # bar in the water main
    PASSENGER_FLOW = "passenger_flow"  # people per 5 minutes at a metro station


SENSOR_UNITS: dict[str, str] = {
    "water_level": "m", "rainfall": "mm/5min", "pm25": "µg/m³", "traffic_speed": "km/h",
    "manhole_tilt": "°", "smoke": "%/m", "water_pressure": "bar", "passenger_flow": "people/5min",
}


class SensorInfo(Message):
    sensor_id: str = Field(min_length=1, max_length=128)
    kind: SensorKind
    cell: str
    district: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    unit: str = ""
    name: str = ""


class CameraInfo(Message):
    camera_id: str = Field(min_length=1, max_length=128)
    cell: str
    district: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    heading_deg: float = Field(default=0.0, ge=0, lt=360)  # direction the field of view faces
    fov_deg: float = Field(default=90.0, gt=0, le=360)
    range_m: float = Field(default=80.0, gt=0)
    name: str = ""


class UnitType(str, Enum):
    GRID_WORKER = "grid_worker"
    URBAN_MANAGEMENT = "urban_management"
    FIRE_ENGINE = "fire_engine"
    AMBULANCE = "ambulance"
    POLICE = "police"
    WATER_UTILITY = "water_utility"
    ROAD_WORKS = "road_works"
    ENVIRONMENT = "environment"


class UnitState(str, Enum):
    AVAILABLE = "available"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    OUT_OF_SERVICE = "out_of_service"


class UnitInfo(Message):
    unit_id: str = Field(min_length=1, max_length=128)
    type: UnitType
    skills: list[str] = Field(default_factory=list)
    name: str = ""
    district: str
    home_lat: float = Field(ge=-90, le=90)
    home_lon: float = Field(ge=-180, le=180)
    shift: str = "24h"  # e.g. "08:00-20:00"


class UnitStatus(Message):
    unit_id: str = Field(min_length=1, max_length=128)
    ts: float
    status: UnitState
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    incident_id: str | None = None


# ---------------------------------------------------------------- inputs

class SensorReading(Message):
    sensor_id: str = Field(min_length=1, max_length=128)
    ts: float  # seconds since epoch
    value: Finite | None  # null: the sensor reported no value (NaN and infinity are refused)


class SensorBatch(Message):
    """Many readings of one grid cell, as a gateway sends them (the hot path)."""

    cell: str = ""
    gateway: str = ""
    readings: list[SensorReading]


class VideoEventType(str, Enum):
    CROWD = "crowd"
    SMOKE_FIRE = "smoke_fire"
    STANDING_WATER = "standing_water"
    ILLEGAL_PARKING = "illegal_parking"
    FALLEN_PERSON = "fallen_person"
    TRAFFIC_ACCIDENT = "traffic_accident"


class VideoEvent(Message):
    event_id: str = Field(min_length=1, max_length=128)
    camera_id: str = Field(min_length=1, max_length=128)
    ts: float
    type: VideoEventType
    confidence: float = Field(ge=0.0, le=1.0)
    track_id: str | None = None  # the analytics engine's object track, stable across frames
    count: int | None = Field(default=None, ge=0)  # e.g. people in a crowd
    snapshot_url: str | None = None


class HotlineCall(Message):
    call_id: str = Field(min_length=1, max_length=128)
    ts: float
    text: str = Field(min_length=1, max_length=20_000)
    channel: str = "phone"  # phone / app / web / wechat / 311 source
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    cell: str | None = None
    district: str | None = None
    address: str | None = None
    category: str | None = None  # filled when a human or upstream system already labelled it
    lang: str | None = None

    @field_validator("text")
    @classmethod
    def _printable(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is blank")
        bad = sum(1 for ch in v if (ord(ch) < 32 and ch not in "\n\r\t") or ch == "\ufffd")
        if bad > max(2, len(v) // 20):
            raise ValueError("text looks binary (control or undecodable characters)")
        return v


# ---------------------------------------------------------------- detection and fusion

Severity = Literal[1, 2, 3, 4]  # 1 low, 2 medium, 3 high, 4 critical
AlertKind = Literal["operational", "maintenance"]
Source = Literal["sensor", "video", "hotline"]


class Alert(Message):
    alert_id: str
    ts: float  # time of the evidence (event time), not of processing
    source: Source
    kind: AlertKind
    category: str  # waterlogging, fire, air_pollution, traffic, crowd, pipe_burst, sensor_fault, ...
    cell: str
    district: str
    lat: float
    lon: float
    score: float = Field(ge=0.0, le=1.0)
    severity: Severity = 2
    reason: str  # in words an operator understands
    subject_id: str = ""  # sensor / camera id, or the merged-signal id for hotline
    message_ids: list[str] = Field(default_factory=list)  # the input messages behind it
    #: per source; a sensor alert carries value, expected, deviation_sigma, anomaly_type, sensor_kind,
    #: unit, corroborated, agreeing_sensors, isolated, event_category, episode_start, and baseline /
    #: excess: what the detector expected when the episode began and how far beyond it (in the unit,
    #: in the kind's event direction) two consecutive readings have held since
    details: dict[str, Any] = Field(default_factory=dict)


class EvidenceItem(Message):
    alert_id: str
    source: Source
    ts: float
    reason: str
    subject_id: str = ""
    score: float = 0.0
    cell: str = ""
    message_ids: list[str] = Field(default_factory=list)


class IncidentUpdate(Message):
    """Fusion's current view of one incident; dispatch merges it into the lifecycle state."""

    incident_id: str
    revision: int  # fusion's own counter per incident, to apply each update once
    ts: float
    category: str
    severity: Severity
    priority: int = Field(ge=1, le=4)  # 1 most urgent
    cell: str
    district: str
    lat: float
    lon: float
    opened_at: float
    why: str
    sources: list[Source] = Field(default_factory=list)
    evidence: list[EvidenceItem] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


class IncidentStatus(str, Enum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"
    FALSE_ALARM = "false_alarm"
    MERGED = "merged"


class Incident(Message):
    """Latest full state of an incident (the compacted `city.incidents` topic)."""

    incident_id: str
    revision: int  # dispatch's counter; every change increments it
    status: IncidentStatus = IncidentStatus.NEW
    category: str
    severity: Severity
    priority: int = Field(ge=1, le=4)
    cell: str
    district: str
    lat: float
    lon: float
    opened_at: float
    updated_at: float
    why: str
    sources: list[Source] = Field(default_factory=list)
    evidence: list[EvidenceItem] = Field(default_factory=list)
    confidence: float = 0.5
    escalated: bool = False
    escalation_level: int = 0
    assigned_units: list[str] = Field(default_factory=list)
    acknowledged_at: float | None = None
    dispatched_at: float | None = None
    on_scene_at: float | None = None
    resolved_at: float | None = None
    merged_into: str | None = None
    sla_breaches: list[str] = Field(default_factory=list)  # e.g. ["acknowledge", "arrival"]
    notes: list[dict[str, Any]] = Field(default_factory=list)
    recommendations: list[dict[str, Any]] = Field(default_factory=list)


class CommandAction(str, Enum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    REASSIGN = "reassign"
    UNASSIGN = "unassign"
    ARRIVE = "arrive"  # unit reports on scene
    ESCALATE = "escalate"
    NOTE = "note"
    RESOLVE = "resolve"
    CLOSE = "close"
    FALSE_ALARM = "false_alarm"
    REOPEN = "reopen"
    MERGE = "merge"
    SPLIT = "split"


class DispatchCommand(Message):
    command_id: str = Field(min_length=1, max_length=128)
    ts: float
    actor: str = Field(min_length=1, max_length=128)  # user name (the console signs in) or a service
    action: CommandAction
    incident_id: str
    unit_ids: list[str] = Field(default_factory=list)
    reason: str = ""
    note: str = ""
    override: bool = False  # a dispatcher's explicit override of a lifecycle guard (needs a reason)
    target_incident_id: str | None = None  # merge: the incident this one is merged into
    evidence_ids: list[str] = Field(default_factory=list)  # split: the alert ids to split off


class DispatchEventKind(str, Enum):
    INCIDENT_OPENED = "incident_opened"
    INCIDENT_UPDATED = "incident_updated"
    COMMAND_APPLIED = "command_applied"
    COMMAND_REFUSED = "command_refused"
    SLA_BREACH = "sla_breach"
    SLA_REMINDER = "sla_reminder"
    ESCALATED = "escalated"
    RECOMMENDATION = "recommendation"
    UNIT_UPDATED = "unit_updated"


class DispatchEvent(Message):
    event_id: str
    ts: float
    kind: DispatchEventKind
    incident_id: str = ""
    command_id: str | None = None
    actor: str = "dispatch"
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- operations

class DeadLetter(Message):
    topic: str
    partition: int = -1
    offset: int = -1
    key: str | None = None
    reason: str
    original_b64: str  # the refused bytes, base64, exactly as received
    ts: float  # when it was refused


class DistrictMetrics(Message):
    district: str
    ts: float
    window_s: float
    readings: int
    readings_per_s: float
    sensors_reporting: int  # sensors heard from in this window
    sensors_known: int
    sensors_online: int = 0  # sensors heard from within ONLINE_S of stream time (silent = known - online)
    #: mean / max per sensor kind over the window, e.g. {"pm25": {"mean": 41.0, "max": 88.0}}
    kinds: dict[str, dict[str, float]] = Field(default_factory=dict)
    video_events: int = 0
    hotline_calls: int = 0
    #: busiest (category, cell) by calls in the last hour's merged signals: a state, not a count since last time
    hotline_top: list[dict[str, Any]] = Field(default_factory=list)  # [{"category", "cell", "count"}]
    dead_letters: int = 0
    worker: str = ""  # which worker published it: several workers may share a district's cells


class ScenarioTruth(Message):
    scenario_id: str
    type: str  # waterlogging, building_fire, air_pollution, traffic_jam, crowd_surge, pipe_burst, sensor_fault
    start: float
    end: float
    cells: list[str]
    district: str
    lat: float
    lon: float
    strength: float = Field(ge=0.0, le=1.0)  # 1 obvious .. 0 barely visible
    band: str = ""  # strong / medium / weak
    operational: bool = True  # False for faults: they must not become incidents
    sensors: list[str] = Field(default_factory=list)
    cameras: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


SCHEMAS: dict[str, type[Message]] = {
    "sensor_info": SensorInfo, "camera_info": CameraInfo, "unit_info": UnitInfo, "unit_status": UnitStatus,
    "sensor_reading": SensorReading, "sensor_batch": SensorBatch, "video_event": VideoEvent,
    "hotline_call": HotlineCall, "alert": Alert, "incident_update": IncidentUpdate, "incident": Incident,
    "dispatch_command": DispatchCommand, "dispatch_event": DispatchEvent, "dead_letter": DeadLetter,
    "city_metrics": DistrictMetrics, "scenario_truth": ScenarioTruth,
}


def encode(msg: BaseModel) -> bytes:
    """The wire form: compact UTF-8 JSON."""
    return msg.model_dump_json(exclude_none=False).encode()


def decode(model: type[M], raw: bytes | str) -> M:
    """Parse and validate; raises pydantic.ValidationError (a ValueError) on bad input."""
    return model.model_validate_json(raw)
