"""Reader for San Francisco Fire Department calls-for-service exports (one row per unit response).

Turns the CSV into `Call`s (received time, place, priority, the units that responded with their stage
times). Rows it cannot use are counted with a reason, never silently dropped. Times are local
`MM/DD/YYYY hh:mm:ss AM/PM`; they become seconds on a naive (UTC-labelled) axis so hour-of-day stays local.
"""

from __future__ import annotations

import calendar
import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

_LOC = re.compile(r"\(?\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)?")


@dataclass
class UnitResponse:
    unit_id: str
    unit_type: str
    station: str  # station the unit belongs to (digits of the unit id), "" when unknown
    dispatch: float
    response: float | None  # en route
    on_scene: float | None
    available: float | None


@dataclass
class Call:
    call_id: str
    received: float
    lat: float
    lon: float
    priority: str  # SFFD codes: "3" emergency, "2" non-emergency, "E"/"A"/"B"/"1" others
    group: str  # Call Type Group
    call_type: str
    station_area: str
    battalion: str
    units: list[UnitResponse] = field(default_factory=list)

    @property
    def hour(self) -> int:
        return int(self.received // 3600) % 24


@dataclass
class ParseReport:
    rows: int = 0
    used: int = 0
    skipped: Counter = field(default_factory=Counter)


def parse_time(text: str) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S.%f", "%Y/%m/%d %I:%M:%S %p", "%Y %b %d %I:%M:%S %p"):
        try:
            return float(calendar.timegm(datetime.strptime(text, fmt).timetuple()))
        except ValueError:
            continue
    raise ValueError(f"unreadable time {text!r}")


def parse_location(text: str) -> tuple[float, float]:
    """`(lat, lon)` as in the classic export, or WKT `POINT (lon lat)` as in newer ones."""
    text = text or ""
    if text.lstrip().upper().startswith("POINT"):
        nums = re.findall(r"-?\d+(?:\.\d+)?", text)
        if len(nums) < 2:
            raise ValueError(f"unreadable location {text!r}")
        lon, lat = float(nums[0]), float(nums[1])
    else:
        m = _LOC.search(text)
        if not m:
            raise ValueError(f"unreadable location {text!r}")
        lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        raise ValueError(f"impossible location {text!r}")
    return lat, lon


_CANON = {re.sub(r"[^a-z0-9]", "", c.lower()): c for c in (
    "Call Number", "Unit ID", "Call Type", "Received DtTm", "Dispatch DtTm", "Response DtTm", "On Scene DtTm",
    "Available DtTm", "Station Area", "Battalion", "Original Priority", "Priority", "Final Priority",
    "Call Type Group", "Unit Type", "Location")}
_CANON["caselocation"] = "Location"


def _canonical(row: dict[str, str | None]) -> dict[str, str]:
    """Column names as in the classic export, whatever the spelling (`received_dttm`, `Received DtTm`, ...)."""
    out: dict[str, str] = {}
    for k, v in row.items():
        if k is None:
            continue  # more cells than headers: ignore the overflow
        name = _CANON.get(re.sub(r"[^a-z0-9]", "", k.lower()), k)
        if name not in out or not out[name]:
            out[name] = v or ""
    return out


def unit_station(unit_id: str) -> str:
    digits = "".join(ch for ch in unit_id if ch.isdigit())
    return digits.lstrip("0") or ("0" if digits else "")


def _priority(row: dict[str, str]) -> str:
    # the priority the dispatcher worked with; final priority is known only afterwards
    for col in ("Original Priority", "Priority", "Final Priority"):
        v = (row.get(col) or "").strip()
        if v:
            return v
    return "3"


def read_calls(path: Path | str) -> tuple[list[Call], ParseReport]:
    """All calls of an SFFD export, sorted by received time, with a report of skipped rows."""
    calls: dict[str, Call] = {}
    rep = ParseReport()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for raw in csv.DictReader(fh):
            rep.rows += 1
            row = _canonical(raw)
            try:
                _add_row(calls, row)
                rep.used += 1
            except (ValueError, KeyError) as exc:
                rep.skipped[str(exc).split(" '")[0][:60]] += 1
    out = sorted(calls.values(), key=lambda c: (c.received, c.call_id))
    for c in out:
        c.units.sort(key=lambda u: u.dispatch)
    return out, rep


def _add_row(calls: dict[str, Call], row: dict[str, str]) -> None:
    cid = (row.get("Call Number") or "").strip()
    if not cid:
        raise ValueError("missing call number")
    received = parse_time(row["Received DtTm"])
    dispatch = parse_time(row["Dispatch DtTm"])
    if received is None or dispatch is None:
        raise ValueError("missing received or dispatch time")
    call = calls.get(cid)
    if call is None:
        lat, lon = parse_location(row.get("Location", ""))
        call = calls[cid] = Call(cid, received, lat, lon, _priority(row), (row.get("Call Type Group") or "").strip(),
                                 (row.get("Call Type") or "").strip(), (row.get("Station Area") or "").strip().lstrip("0"),
                                 (row.get("Battalion") or "").strip())
    call.received = min(call.received, received)
    uid = (row.get("Unit ID") or "").strip()
    if not uid:
        raise ValueError("missing unit id")
    call.units.append(UnitResponse(uid, (row.get("Unit Type") or "OTHER").strip() or "OTHER", unit_station(uid),
                                   dispatch, parse_time(row.get("Response DtTm", "")),
                                   parse_time(row.get("On Scene DtTm", "")), parse_time(row.get("Available DtTm", ""))))
