"""Simulated field units for the demo: assigned units report en route, then on scene after their ETA.

`FieldSimulator` watches incident states (as published on `city.incidents`) and the unit registry;
for every unit newly assigned to an incident it schedules `UnitStatus` reports in simulated time:
en route at once, on scene after the travel model's ETA, and, once the incident is resolved or
closed, available back at base after the drive home. `run_field` is the `cityops field` process
(and the `--simulate-field` task of `cityops dispatch`): it publishes those reports to
`city.units.status`, pacing simulated time by a speedup.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time

from streams.schemas import Incident, IncidentStatus, UnitInfo, UnitState, UnitStatus

from dispatch.lifecycle import OPEN
from dispatch.travel import TravelModel, hour_of

log = logging.getLogger(__name__)


class FieldSimulator:
    def __init__(self, travel: TravelModel | None = None) -> None:
        self.travel = travel or TravelModel()
        self.units: dict[str, UnitInfo] = {}
        self.pos: dict[str, tuple[float, float]] = {}
        self.jobs: dict[str, str] = {}  # unit id -> incident id it is working for
        self.due: list[tuple[float, int, UnitStatus]] = []
        self._n = 0

    def observe_unit(self, info: UnitInfo) -> None:
        self.units[info.unit_id] = info
        self.pos.setdefault(info.unit_id, (info.home_lat, info.home_lon))

    def observe_status(self, st: UnitStatus) -> None:
        if st.lat is not None and st.lon is not None:
            self.pos[st.unit_id] = (st.lat, st.lon)

    def _at(self, t: float, st: UnitStatus) -> None:
        self._n += 1
        heapq.heappush(self.due, (t, self._n, st))

    def observe_incident(self, inc: Incident, now: float) -> None:
        """Schedule reports for units that joined (or were released from) this incident."""
        if inc.status in OPEN:
            for uid in inc.assigned_units:
                if self.jobs.get(uid) == inc.incident_id or uid not in self.units:
                    continue
                self.jobs[uid] = inc.incident_id
                lat, lon = self.pos.get(uid, (inc.lat, inc.lon))
                eta = self.travel.eta_s(lat, lon, inc.lat, inc.lon, hour_of(now), inc.district)
                self._at(now, UnitStatus(unit_id=uid, ts=now, status=UnitState.EN_ROUTE, lat=lat, lon=lon,
                                         incident_id=inc.incident_id))
                self._at(now + eta, UnitStatus(unit_id=uid, ts=now + eta, status=UnitState.ON_SCENE, lat=inc.lat,
                                               lon=inc.lon, incident_id=inc.incident_id))
        gone = [u for u, i in self.jobs.items() if i == inc.incident_id and
                (inc.status not in OPEN or u not in inc.assigned_units)]
        for uid in gone:
            del self.jobs[uid]
            if inc.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED, IncidentStatus.FALSE_ALARM):
                home = self.units[uid]
                back = self.travel.eta_s(inc.lat, inc.lon, home.home_lat, home.home_lon, hour_of(now))
                self._at(now + back, UnitStatus(unit_id=uid, ts=now + back, status=UnitState.AVAILABLE,
                                                lat=home.home_lat, lon=home.home_lon))

    def pop_due(self, now: float) -> list[UnitStatus]:
        """Reports whose simulated time has come, oldest first; drops on-scene reports of cancelled jobs."""
        out = []
        while self.due and self.due[0][0] <= now:
            _, _, st = heapq.heappop(self.due)
            if st.status in (UnitState.EN_ROUTE, UnitState.ON_SCENE) and self.jobs.get(st.unit_id) != st.incident_id:
                continue  # the unit was reassigned or released before it got there
            out.append(st)
        return out


class SimClock:
    """Simulated time that follows the newest event time seen and runs `speedup` times faster than wall time."""

    def __init__(self, speedup: float = 1.0, start: float | None = None) -> None:
        self.speedup = speedup
        self._base = start if start is not None else time.time()
        self._wall = time.monotonic()

    def now(self) -> float:
        return self._base + (time.monotonic() - self._wall) * self.speedup

    def observe(self, ts: float) -> None:
        if ts > self.now():
            self._base, self._wall = ts, time.monotonic()


async def run_field(bootstrap: str, speedup: float = 1.0, stop: asyncio.Event | None = None) -> None:
    """The `cityops field` process: follow incidents and units, publish simulated unit reports."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from streams import catalog
    from streams.schemas import decode, encode

    sim = FieldSimulator()
    clock = SimClock(speedup)
    consumer = AIOKafkaConsumer(catalog.INCIDENTS.name, catalog.REGISTRY_UNITS.name, catalog.UNITS_STATUS.name,
                                bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=100)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await consumer.start()
    await producer.start()
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            for recs in batch.values():
                for rec in recs:
                    _observe(sim, clock, rec, decode)
            for st in sim.pop_due(clock.now()):
                await producer.send(catalog.UNITS_STATUS.name, key=st.unit_id.encode(), value=encode(st))
    finally:
        await consumer.stop()
        await producer.stop()


def _observe(sim: FieldSimulator, clock: SimClock, rec, decode) -> None:
    from streams import catalog

    try:
        if rec.topic == catalog.REGISTRY_UNITS.name:
            sim.observe_unit(decode(UnitInfo, rec.value))
        elif rec.topic == catalog.UNITS_STATUS.name:
            st = decode(UnitStatus, rec.value)
            clock.observe(st.ts)
            sim.observe_status(st)
        else:
            inc = decode(Incident, rec.value)
            clock.observe(inc.updated_at)
            sim.observe_incident(inc, clock.now())
    except ValueError as exc:
        log.warning("field: ignoring unreadable %s record at offset %s: %s", rec.topic, rec.offset, exc)
