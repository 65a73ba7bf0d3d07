"""Service-level targets per priority (acknowledge, dispatch, arrival) and the breaches and reminders they fire.

`due(incident, now, reminded)` is pure: it says which stages are late and not yet recorded as breached,
and whether an unacknowledged incident is owed a reminder. The engine turns that into events and state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.schemas import Incident, IncidentStatus

from dispatch.lifecycle import OPEN

#: priority -> seconds from opening by which the stage must be done (1 = most urgent).
DEFAULT_TARGETS: dict[int, dict[str, float]] = {
    1: {"acknowledge": 60, "dispatch": 180, "arrival": 600},
    2: {"acknowledge": 120, "dispatch": 300, "arrival": 900},
    3: {"acknowledge": 300, "dispatch": 900, "arrival": 1800},
    4: {"acknowledge": 900, "dispatch": 3600, "arrival": 7200},
}
STAGES = ("acknowledge", "dispatch", "arrival")


@dataclass(frozen=True)
class SlaPolicy:
    targets: dict[int, dict[str, float]] = field(default_factory=lambda: DEFAULT_TARGETS)
    #: seconds between reminders while an incident stays unacknowledged after its target
    reminder_s: float = 60.0

    def deadline(self, incident: Incident, stage: str) -> float:
        return incident.opened_at + self.targets.get(incident.priority, self.targets[4])[stage]

    def done_at(self, incident: Incident, stage: str) -> float | None:
        return {"acknowledge": incident.acknowledged_at, "dispatch": incident.dispatched_at,
                "arrival": incident.on_scene_at}[stage]

    def breaches(self, incident: Incident, now: float) -> list[str]:
        """Stages whose deadline passed with the stage not done in time, not yet recorded."""
        if incident.status not in OPEN:
            return []
        out = []
        for stage in STAGES:
            if stage in incident.sla_breaches:
                continue
            done = self.done_at(incident, stage)
            dl = self.deadline(incident, stage)
            if (done is None and now >= dl) or (done is not None and done > dl):
                out.append(stage)
        return out

    def reminder_due(self, incident: Incident, now: float, last_reminder: float | None) -> bool:
        """An unacknowledged incident past its acknowledge target is reminded every `reminder_s`."""
        if incident.status is not IncidentStatus.NEW or incident.acknowledged_at is not None:
            return False
        if now < self.deadline(incident, "acknowledge") + self.reminder_s:
            return False
        return last_reminder is None or now - last_reminder >= self.reminder_s

    def next_deadline(self, incident: Incident) -> float | None:
        """The earliest pending deadline (for a timer that sleeps until then)."""
        if incident.status not in OPEN:
            return None
        pend = [self.deadline(incident, s) for s in STAGES
                if s not in incident.sla_breaches and self.done_at(incident, s) is None]
        return min(pend) if pend else None
