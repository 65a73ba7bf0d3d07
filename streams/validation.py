"""Validation of input messages: parse, check against registries and sanity rules, or refuse with a reason.

Refused input becomes a `DeadLetter` (the original bytes and why) for the topic's DLQ; nothing here
raises on bad input, so an agent can never be crashed by a message.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from streams.schemas import DeadLetter, HotlineCall, SensorBatch, SensorReading, VideoEvent

T = TypeVar("T", bound=BaseModel)

MAX_MESSAGE_BYTES = 1_000_000
#: Readings older than this are refused too: a clock stuck in 1970 is as wrong as one in 2099.
MIN_TS = 946_684_800.0  # 2000-01-01


@dataclass
class Outcome(Generic[T]):
    """What validation of one raw message yields: good messages and refusals (a batch can give both)."""

    good: list[T] = field(default_factory=list)
    refused: list[DeadLetter] = field(default_factory=list)


def explain(exc: Exception) -> str:
    """A one-line reason a stream developer can act on."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ())) or "message"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        return "schema: " + "; ".join(parts) + more
    return f"{type(exc).__name__}: {exc}"


def dead_letter(topic: str, raw: bytes, reason: str, key: bytes | None = None,
                partition: int = -1, offset: int = -1, now: float | None = None) -> DeadLetter:
    return DeadLetter(
        topic=topic, partition=partition, offset=offset,
        key=key.decode("utf-8", "replace") if key else None, reason=reason,
        original_b64=base64.b64encode(raw).decode("ascii"), ts=time.time() if now is None else now,
    )


def _check_ts(ts: float, now: float, max_future_s: float) -> str | None:
    if not math.isfinite(ts):
        return "ts is not a finite number"
    if ts > now + max_future_s:
        return f"ts {ts:.0f} is {ts - now:.0f}s in the future (limit {max_future_s:.0f}s)"
    if ts < MIN_TS:
        return f"ts {ts:.0f} is before 2000-01-01"
    return None


@dataclass
class Validator:
    """Validates the input topics against the registries the worker keeps.

    `sensors` / `cameras` map ids to registry entries (anything with a `.cell`); `city` answers
    whether a coordinate is inside the city. All three may be filled in while running.
    """

    topic_readings: str
    topic_video: str
    topic_hotline: str
    sensors: dict[str, object] = field(default_factory=dict)
    cameras: dict[str, object] = field(default_factory=dict)
    inside_city: object = None  # callable (lat, lon) -> bool, or None to accept any valid coordinate
    max_future_s: float = 300.0

    def _pre(self, topic: str, raw: bytes, key: bytes | None, partition: int, offset: int,
             now: float) -> DeadLetter | None:
        if raw is None or len(raw) == 0:
            return dead_letter(topic, raw or b"", "empty message", key, partition, offset, now)
        if len(raw) > MAX_MESSAGE_BYTES:
            return dead_letter(topic, raw, f"message is {len(raw)} bytes (limit {MAX_MESSAGE_BYTES})",
                               key, partition, offset, now)
        return None

    def readings(self, raw: bytes, key: bytes | None = None, partition: int = -1, offset: int = -1,
                 now: float | None = None) -> Outcome[SensorReading]:
        """A batch `{"cell", "readings": [...]}` or one reading `{"sensor_id", "ts", "value"}`."""
        now = time.time() if now is None else now
        out: Outcome[SensorReading] = Outcome()
        topic = self.topic_readings
        if (dl := self._pre(topic, raw, key, partition, offset, now)) is not None:
            out.refused.append(dl)
            return out
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            out.refused.append(dead_letter(topic, raw, f"bad JSON: {exc}", key, partition, offset, now))
            return out
        if not isinstance(doc, dict):
            out.refused.append(dead_letter(topic, raw, "message is not a JSON object", key, partition, offset, now))
            return out
        items = doc.get("readings") if "readings" in doc else [doc]
        if not isinstance(items, list):
            out.refused.append(dead_letter(topic, raw, "readings: not a list", key, partition, offset, now))
            return out
        for i, item in enumerate(items):
            where = f"readings[{i}]: " if "readings" in doc else ""
            try:
                r = SensorReading.model_validate(item)
            except ValidationError as exc:
                reason = where + explain(exc)
            else:
                reason = self._reading_problem(r, now)
                if reason is None:
                    out.good.append(r)
                    continue
                reason = where + reason
            item_raw = json.dumps(item, ensure_ascii=False, default=str).encode() if "readings" in doc else raw
            out.refused.append(dead_letter(topic, item_raw, reason, key, partition, offset, now))
        return out

    def _reading_problem(self, r: SensorReading, now: float) -> str | None:
        if self.sensors and r.sensor_id not in self.sensors:
            return f"unknown sensor {r.sensor_id!r} (not in city.registry.sensors)"
        return _check_ts(r.ts, now, self.max_future_s)

    def _coords_problem(self, lat: float | None, lon: float | None) -> str | None:
        if (lat is None) != (lon is None):
            return "lat and lon must be given together"
        if lat is not None and self.inside_city is not None and not self.inside_city(lat, lon):
            return f"coordinates ({lat:.5f}, {lon:.5f}) are outside the city"
        return None

    def _one(self, model: type[T], topic: str, raw: bytes, key: bytes | None, partition: int, offset: int,
             now: float, extra) -> Outcome[T]:
        out: Outcome[T] = Outcome()
        if (dl := self._pre(topic, raw, key, partition, offset, now)) is not None:
            out.refused.append(dl)
            return out
        try:
            msg = model.model_validate_json(raw)
        except ValidationError as exc:
            text = raw[:64].decode("utf-8", "replace")
            reason = explain(exc)
            if not text.lstrip().startswith("{") or "json_invalid" in str(exc):
                reason = "bad JSON: " + reason
            out.refused.append(dead_letter(topic, raw, reason, key, partition, offset, now))
            return out
        problem = _check_ts(msg.ts, now, self.max_future_s) or extra(msg)  # type: ignore[attr-defined]
        if problem:
            out.refused.append(dead_letter(topic, raw, problem, key, partition, offset, now))
        else:
            out.good.append(msg)
        return out

    def video(self, raw: bytes, key: bytes | None = None, partition: int = -1, offset: int = -1,
              now: float | None = None) -> Outcome[VideoEvent]:
        def extra(ev: VideoEvent) -> str | None:
            if self.cameras and ev.camera_id not in self.cameras:
                return f"unknown camera {ev.camera_id!r} (not in city.registry.cameras)"
            return None

        return self._one(VideoEvent, self.topic_video, raw, key, partition, offset,
                         time.time() if now is None else now, extra)

    def hotline(self, raw: bytes, key: bytes | None = None, partition: int = -1, offset: int = -1,
                now: float | None = None) -> Outcome[HotlineCall]:
        def extra(call: HotlineCall) -> str | None:
            return self._coords_problem(call.lat, call.lon)

        return self._one(HotlineCall, self.topic_hotline, raw, key, partition, offset,
                         time.time() if now is None else now, extra)


def batch_of(cell: str, readings: list[SensorReading], gateway: str = "") -> SensorBatch:
    return SensorBatch(cell=cell, gateway=gateway, readings=readings)
