"""Spatial corroboration: which nearby sensors agree with an anomaly, and which directions are events.

A neighbour agrees when it is of the same or a related kind, sits in a cell within one ring
(the `neighbours` callable, so this module never needs the city geometry), was itself anomalous in
the same direction (related kinds: the event's direction) within `window_s`, and is not the sensor
itself. A neighbour is comparable when it is of such a kind and reported within the window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

# the incident category each sensor kind is evidence for
CATEGORY = {
    "water_level": "waterlogging", "rainfall": "waterlogging", "pm25": "air_pollution",
    "traffic_speed": "traffic", "manhole_tilt": "manhole", "smoke": "fire",
    "water_pressure": "pipe_burst", "passenger_flow": "crowd",
}
# the direction of a reading that signals an event (+1 up, -1 down): a pipe burst drops pressure,
# a jam drops speed; everything else signals by rising
EVENT_SIGN = {"traffic_speed": -1.0, "water_pressure": -1.0}
# kinds that corroborate each other (rain explains a rising drain; smoke and PM2.5 rise together)
RELATED = {
    "water_level": ("water_level", "rainfall"), "rainfall": ("rainfall", "water_level"),
    "pm25": ("pm25", "smoke"), "smoke": ("smoke", "pm25"),
    "water_pressure": ("water_pressure", "water_level"),
}


def event_sign(kind: str) -> float:
    return EVENT_SIGN.get(kind, 1.0)


def related(kind: str) -> tuple[str, ...]:
    return RELATED.get(kind, (kind,))


@dataclass
class Corroboration:
    agreeing: list[str]
    comparable: int  # neighbours of a related kind that reported recently (agreeing or not)


class Neighbourhood:
    """Sensors by cell, and per-slot memory of when each was last seen and last anomalous."""

    def __init__(self, neighbours: Callable[[str], Iterable[str]], window_s: float = 900.0) -> None:
        self._neighbours = neighbours
        self.window_s = window_s
        self._by_cell: dict[str, list[tuple[str, str, int]]] = defaultdict(list)  # cell -> (id, kind, slot)
        self._cells_cache: dict[str, list[str]] = {}
        self.last_seen = np.full(0, -np.inf)
        self.hot_ts = np.full(0, -np.inf)
        self.hot_sign = np.zeros(0)

    def add(self, sensor_id: str, kind: str, cell: str, slot: int) -> None:
        for lst in self._by_cell.values():
            lst[:] = [e for e in lst if e[0] != sensor_id]
        self._by_cell[cell].append((sensor_id, kind, slot))
        self._ensure(slot + 1)

    def _ensure(self, n: int) -> None:
        if n > len(self.last_seen):
            k = max(n, 2 * len(self.last_seen), 64)
            for name, fill in (("last_seen", -np.inf), ("hot_ts", -np.inf), ("hot_sign", 0.0)):
                old = getattr(self, name)
                new = np.full(k, fill)
                new[: len(old)] = old
                setattr(self, name, new)

    def observe(self, slots: np.ndarray, ts: np.ndarray, hot: np.ndarray, sign: np.ndarray) -> None:
        """Remember the batch: who reported, who was anomalous and in which direction."""
        self._ensure(int(slots.max()) + 1 if len(slots) else 0)
        np.maximum.at(self.last_seen, slots, ts)
        h = hot & np.isfinite(ts)
        self.hot_ts[slots[h]] = ts[h]
        self.hot_sign[slots[h]] = sign[h]

    def cells_near(self, cell: str) -> list[str]:
        c = self._cells_cache.get(cell)
        if c is None:
            c = self._cells_cache[cell] = list(dict.fromkeys([cell, *self._neighbours(cell)]))
        return c

    def corroborate(self, sensor_id: str, kind: str, cell: str, ts: float, direction: float) -> Corroboration:
        """Nearby sensors of related kinds that were anomalous in the event's direction around `ts`."""
        want = related(kind)
        # a related kind agrees when it moves in its own event direction when this one moves in ours
        agreeing, comparable = [], 0
        for c in self.cells_near(cell):
            for sid, k, slot in self._by_cell.get(c, ()):
                if sid == sensor_id or k not in want:
                    continue
                if abs(self.last_seen[slot] - ts) <= self.window_s or abs(self.hot_ts[slot] - ts) <= self.window_s:
                    comparable += 1
                expected_sign = direction * event_sign(kind) * event_sign(k)
                if abs(self.hot_ts[slot] - ts) <= self.window_s and self.hot_sign[slot] == expected_sign:
                    agreeing.append(sid)
        return Corroboration(agreeing, comparable)
