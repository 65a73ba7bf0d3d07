"""The incident lifecycle: which command is allowed in which state, and why not.

new → acknowledged → dispatched → on scene → resolved → closed, plus false alarm, merged (into another
incident) and the escalated flag (an incident stays in its state while escalated). Guards return a
clear refusal reason for the console; a dispatcher may override some guards, but only with a reason.
"""

from __future__ import annotations

from streams.schemas import CommandAction as A
from streams.schemas import DispatchCommand, Incident
from streams.schemas import IncidentStatus as S

#: States in which the incident still needs work.
OPEN: frozenset[S] = frozenset({S.NEW, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SCENE})
#: States that no longer hold units.
DONE: frozenset[S] = frozenset({S.RESOLVED, S.CLOSED, S.FALSE_ALARM, S.MERGED})

#: action -> states where it is allowed as a matter of course.
ALLOWED: dict[A, frozenset[S]] = {
    A.ACKNOWLEDGE: frozenset({S.NEW}),
    A.ASSIGN: OPEN,
    A.REASSIGN: frozenset({S.DISPATCHED, S.ON_SCENE}),
    A.UNASSIGN: frozenset({S.DISPATCHED, S.ON_SCENE}),
    A.ARRIVE: frozenset({S.DISPATCHED, S.ON_SCENE}),
    A.ESCALATE: OPEN,
    A.NOTE: frozenset(S),
    A.RESOLVE: frozenset({S.ON_SCENE}),
    A.CLOSE: frozenset({S.RESOLVED, S.FALSE_ALARM}),
    A.FALSE_ALARM: OPEN,
    A.REOPEN: frozenset({S.RESOLVED, S.CLOSED, S.FALSE_ALARM, S.MERGED}),
    A.MERGE: OPEN,
    A.SPLIT: OPEN | frozenset({S.RESOLVED}),
}

#: action -> further states a dispatcher may force it from (override=True and a reason).
OVERRIDABLE: dict[A, frozenset[S]] = {
    A.RESOLVE: frozenset({S.NEW, S.ACKNOWLEDGED, S.DISPATCHED}),
    A.CLOSE: OPEN,
}

_HINTS: dict[A, str] = {
    A.RESOLVE: "resolve needs a unit on scene first (or override=true with a reason)",
    A.CLOSE: "only resolved or false-alarm incidents can be closed (or override=true with a reason)",
    A.ARRIVE: "no unit has been dispatched yet",
    A.REASSIGN: "nothing is assigned yet: use assign",
    A.UNASSIGN: "nothing is assigned",
    A.REOPEN: "the incident is still open",
}


def refusal(incident: Incident, cmd: DispatchCommand) -> str | None:
    """Why `cmd` may not be applied to `incident` in its current state, or None when it may."""
    if cmd.override and not cmd.reason.strip():
        return "an override needs a reason"
    status = incident.status
    if status in ALLOWED[cmd.action]:
        return _content_refusal(incident, cmd)
    if cmd.override and status in OVERRIDABLE.get(cmd.action, frozenset()):
        return _content_refusal(incident, cmd)
    if cmd.action is A.ACKNOWLEDGE and incident.acknowledged_at is not None:
        return f"already acknowledged (status {status.value})"
    hint = _HINTS.get(cmd.action, "")
    where = f"incident {incident.incident_id} is {status.value}"
    if status is S.MERGED:
        where += f" into {incident.merged_into}"
    return f"cannot {cmd.action.value}: {where}" + (f"; {hint}" if hint else "")


def _content_refusal(incident: Incident, cmd: DispatchCommand) -> str | None:
    """Guards on the command's own content (units named, notes present, ...)."""
    a = cmd.action
    if a in (A.ASSIGN, A.REASSIGN) and not cmd.unit_ids:
        return f"{a.value} needs at least one unit id"
    if a is A.UNASSIGN:
        missing = [u for u in cmd.unit_ids if u not in incident.assigned_units]
        if not cmd.unit_ids or missing:
            return f"unassign: not assigned to {incident.incident_id}: {', '.join(missing) or '(no unit ids given)'}"
    if a is A.ARRIVE:
        stray = [u for u in cmd.unit_ids if u not in incident.assigned_units]
        if stray:
            return f"arrive: {', '.join(stray)} not assigned to {incident.incident_id}"
    if a is A.NOTE and not (cmd.note.strip() or cmd.reason.strip()):
        return "a note needs text"
    if a is A.MERGE:
        if not cmd.target_incident_id:
            return "merge needs target_incident_id"
        if cmd.target_incident_id == incident.incident_id:
            return "cannot merge an incident into itself"
    if a is A.SPLIT:
        have = {e.alert_id for e in incident.evidence}
        missing = [e for e in cmd.evidence_ids if e not in have]
        if not cmd.evidence_ids or missing:
            return f"split: evidence not on {incident.incident_id}: {', '.join(missing) or '(no evidence ids given)'}"
        if set(cmd.evidence_ids) >= have:
            return "split: cannot split off all the evidence (nothing would remain)"
    return None


def next_status(incident: Incident, action: A) -> S:
    """The state after a command that passed `refusal` (units and merges are the engine's business)."""
    s = incident.status
    if action is A.ACKNOWLEDGE:
        return S.ACKNOWLEDGED
    if action is A.ASSIGN and s in (S.NEW, S.ACKNOWLEDGED):
        return S.DISPATCHED
    if action is A.ARRIVE:
        return S.ON_SCENE
    if action is A.RESOLVE:
        return S.RESOLVED
    if action is A.CLOSE:
        return S.CLOSED
    if action is A.FALSE_ALARM:
        return S.FALSE_ALARM
    if action is A.REOPEN:
        return S.ACKNOWLEDGED
    if action is A.MERGE:
        return S.MERGED
    return s
