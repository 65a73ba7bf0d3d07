"""Replay of real hotline exports (Boston 311, NYC 311, Teddy Cup 12345) onto `city.hotline.calls`.

A column mapping turns each export row into a `HotlineCall`; the format is recognised from the
header or named. Time is compressed by `speed` and, by default, re-based so the first call happens
now (the validator refuses old-looking live data no more than future data, but a live screen wants
"now"). Foreign coordinates are moved onto the city by a linear map of the data's own bounding box
(Boston's streets land on Guangzhou's grid, keeping their spatial clustering), or dropped. Calls are
keyed by cell (district, else "none") exactly as the catalog says. Bad rows are counted by reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from streams import catalog
from streams.schemas import HotlineCall, encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mapping:
    """Which export columns make a HotlineCall."""

    name: str
    id: str
    time: str
    time_format: str
    tz: str
    text: tuple[str, ...]
    lat: str = ""
    lon: str = ""
    channel: str = ""
    district: str = ""
    address: str = ""
    category: str = ""  # a label already in the export (kept for evaluation; the worker re-classifies)
    lang: str = "en"
    text_sep: str = ". "


MAPPINGS: dict[str, Mapping] = {
    "boston311": Mapping("boston311", "CASE_ENQUIRY_ID", "OPEN_DT", "%Y-%m-%d %H:%M:%S", "America/New_York",
                         ("CASE_TITLE",), "LATITUDE", "LONGITUDE", "Source", "neighborhood", "Location"),
    "nyc311": Mapping("nyc311", "Unique Key", "Created Date", "%m/%d/%Y %I:%M:%S %p", "America/New_York",
                      ("Complaint Type", "Descriptor"), "Latitude", "Longitude", "Open Data Channel Type", "Borough",
                      "Incident Address", text_sep=": "),
    "teddycup": Mapping("teddycup", "留言编号", "留言时间", "%Y-%m-%d %H:%M:%S", "Asia/Shanghai",
                        ("留言主题", "留言详情"), channel="", lang="zh", text_sep="。"),
}


def detect_mapping(header: list[str]) -> Mapping:
    for m in MAPPINGS.values():
        if m.id in header and m.time in header and all(c in header for c in m.text):
            return m
    raise ValueError(f"unknown export format (columns: {', '.join(header[:12])}...); "
                     f"name one with --format {{{','.join(MAPPINGS)}}}")


@dataclass
class ReplayStats:
    read: int = 0
    sent: int = 0
    refused: Counter = field(default_factory=Counter)
    first_ts: float | None = None
    last_ts: float | None = None


def _float(v: str | None) -> float | None:
    try:
        f = float(v) if v not in (None, "") else None
    except ValueError:
        return None
    return f if f is not None and f == f and f not in (0.0,) else None  # 0/NaN mean "no coordinate"


def relocator(points: list[tuple[float, float]], bounds: tuple[float, float, float, float]
              ) -> Callable[[float, float], tuple[float, float]]:
    """Linear map of the data's 1st-99th percentile box onto the city box (minx, miny, maxx, maxy)."""
    lats = sorted(p[0] for p in points)
    lons = sorted(p[1] for p in points)
    lo = lambda xs: xs[int(0.01 * (len(xs) - 1))]  # noqa: E731
    hi = lambda xs: xs[int(0.99 * (len(xs) - 1))]  # noqa: E731
    la0, la1, lo0, lo1 = lo(lats), hi(lats), lo(lons), hi(lons)
    minx, miny, maxx, maxy = bounds
    # Keep to the middle of the city box: its corners are mostly outside every district.
    cx, cy, sx, sy = (minx + maxx) / 2, (miny + maxy) / 2, (maxx - minx) * 0.3, (maxy - miny) * 0.3

    def move(lat: float, lon: float) -> tuple[float, float]:
        y = (lat - la0) / ((la1 - la0) or 1.0) - 0.5
        x = (lon - lo0) / ((lo1 - lo0) or 1.0) - 0.5
        return cy + 2 * y * sy, cx + 2 * x * sx

    return move


ENCODINGS = ("utf-8-sig", "gb18030")


class CsvError(ValueError):
    """An export the hotline tools cannot use, with a reason a user can act on."""


def decode_bytes(raw: bytes, path: str = "<bytes>") -> str:
    """Text of a CSV file: UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK/GB2312)."""
    if b"\x00" in raw[:4096]:
        raise CsvError(f"{path}: looks binary (NUL bytes); UTF-16 or a spreadsheet? export it as CSV")
    for enc in ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise CsvError(f"{path}: not UTF-8 or GB18030 text")


def read_export(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV export; raises CsvError for unreadable files."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CsvError(f"{path}: {exc.strerror or exc}") from exc
    text = decode_bytes(raw, str(path))
    csv.field_size_limit(sys.maxsize)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as exc:
        raise CsvError(f"{path}: CSV parse error: {exc}") from exc
    if not header:
        raise CsvError(f"{path}: empty file (no header row)")
    return header, rows


def calls_from_rows(rows: list[dict[str, str]], mapping: Mapping, stats: ReplayStats,
                    cell_at: Callable[[float, float], str | None] | None = None,
                    district_of: Callable[[str], str] | None = None,
                    move: Callable[[float, float], tuple[float, float]] | None = None,
                    limit: int = 0) -> Iterator[HotlineCall]:
    """HotlineCalls in time order with original timestamps; bad rows counted in `stats.refused`."""
    tz = ZoneInfo(mapping.tz)
    parsed: list[tuple[float, dict[str, str]]] = []
    for row in rows:
        stats.read += 1
        try:
            ts = datetime.strptime((row.get(mapping.time) or "").strip(), mapping.time_format).replace(tzinfo=tz)
        except ValueError:
            stats.refused["bad or missing time"] += 1
            continue
        parsed.append((ts.timestamp(), row))
    parsed.sort(key=lambda p: p[0])
    for ts, row in parsed[: limit or None]:
        text = mapping.text_sep.join(v for c in mapping.text if (v := (row.get(c) or "").strip()))
        lat, lon = _float(row.get(mapping.lat)), _float(row.get(mapping.lon))
        cell = None
        if lat is not None and lon is not None and move is not None:
            lat, lon = move(lat, lon)
        if lat is not None and lon is not None and cell_at is not None:
            cell = cell_at(lat, lon)
            if cell is None:
                lat = lon = None  # outside the city: the place is unknown, the text still counts
        district = district_of(cell) if cell and district_of else None
        try:
            call = HotlineCall(
                call_id=f"{mapping.name}-{(row.get(mapping.id) or '').strip() or stats.read}", ts=ts,
                text=text[:20_000], channel=(row.get(mapping.channel) or mapping.name) if mapping.channel else "web",
                lat=lat, lon=lon, cell=cell, district=district,
                address=(row.get(mapping.address) or None) if mapping.address else None,
                category=None, lang=mapping.lang)
        except ValidationError as exc:
            stats.refused["; ".join(sorted({str(e.get("loc", ("?",))[0]) + ": " + e["msg"]
                                            for e in exc.errors()}))[:120]] += 1
            continue
        yield call


def replay(calls: Iterator[HotlineCall], send: Callable[[str, bytes], None], stats: ReplayStats,
           speed: float = 60.0, rebase: bool = True, clock: Callable[[], float] = time.time,
           sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    """Send calls at `speed` x real time (0 = as fast as possible); `send(key, value)` does the I/O."""
    start_wall = clock()
    first: float | None = None
    for call in calls:
        if first is None:
            first = call.ts
        offset = (call.ts - first) / speed if speed > 0 else 0.0
        if speed > 0:
            wait = start_wall + offset - clock()
            if wait > 0:
                sleep(wait)
        if rebase:
            call = call.model_copy(update={"ts": start_wall + (offset if speed > 0 else clock() - start_wall)})
        send(call.cell or call.district or "none", encode(call))
        stats.sent += 1
        stats.first_ts = call.ts if stats.first_ts is None else stats.first_ts
        stats.last_ts = call.ts
    return stats


def kafka_sender(bootstrap: str) -> tuple[Callable[[str, bytes], None], Callable[[], None]]:
    """(send, close) for `city.hotline.calls` with kafka-python."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    topic = catalog.HOTLINE_CALLS.name

    def send(key: str, value: bytes) -> None:
        producer.send(topic, key=key.encode(), value=value)

    def close() -> None:
        producer.flush()
        producer.close()

    return send, close


def file_sender(path: str | Path) -> tuple[Callable[[str, bytes], None], Callable[[], None]]:
    """(send, close) writing JSON lines {"key", "value"} instead of producing (a dry run)."""
    fh = io.open(path, "w", encoding="utf-8")

    def send(key: str, value: bytes) -> None:
        fh.write(json.dumps({"key": key, "value": json.loads(value)}, ensure_ascii=False) + "\n")

    return send, fh.close
