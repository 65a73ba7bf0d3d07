"""The dispatch core: apply fusion updates, dispatcher commands and unit reports to the incident state.

`Engine.apply(msg, now)` takes an `IncidentUpdate`, `DispatchCommand`, `UnitStatus` or `UnitInfo` and
returns an `Outcome`: the events to publish, the incidents and units it changed, audit rows and the ids
it consumed. It does no I/O and reads no clock (`now` is passed in), so the service, the replay, the
benchmark and the tests all drive the same code. Commands are applied once per command id; fusion
updates once per (incident, revision); refusals come back as `command_refused` events with a reason.
"""

from __future__ import annotations

import hashlib
import json

from streams.schemas import CommandAction as A
from streams.schemas import (DispatchCommand, DispatchEvent, DispatchEventKind, EvidenceItem, Incident,
                             IncidentStatus, IncidentUpdate, UnitInfo, UnitState, UnitStatus)

from dispatch import lifecycle
from dispatch.lifecycle import OPEN
from dispatch.recommend import FreeIndex, recommend
from dispatch.sla import SlaPolicy
from dispatch.store import AuditEntry, Outcome, Snapshot
from dispatch.travel import TravelModel
from dispatch.units import ROUTING, UnitRecord, on_shift

K = DispatchEventKind
S = IncidentStatus
Message = IncidentUpdate | DispatchCommand | UnitStatus | UnitInfo


class Engine:
    def __init__(self, travel: TravelModel | None = None, sla: SlaPolicy | None = None,
                 rules: dict | None = None) -> None:
        self.travel = travel or TravelModel()
        self.sla = sla or SlaPolicy()
        self.rules = rules or ROUTING
        self.incidents: dict[str, Incident] = {}
        self.fusion_revisions: dict[str, int] = {}
        self.units: dict[str, UnitRecord] = {}
        self.processed: set[str] = set()
        self.open_ids: set[str] = set()
        self._reminded: dict[str, float] = {}
        self._free = FreeIndex()  # free units by type, kept in step with every unit change
        self._json: dict[str, str] = {}  # incident id -> JSON after its last change (the next "before")

    # -- state ---------------------------------------------------------------------------------
    def load(self, snap: Snapshot) -> None:
        self.incidents = dict(snap.incidents)
        self.fusion_revisions = dict(snap.fusion_revisions)
        self.units = dict(snap.units)
        self.processed = set(snap.processed)
        self.open_ids = {i for i, inc in self.incidents.items() if inc.status in OPEN}
        self._free = FreeIndex(self.units.values())

    def open_incidents(self) -> list[Incident]:
        return [self.incidents[i] for i in sorted(self.open_ids)]

    # -- entry point -----------------------------------------------------------------------------
    def apply(self, msg: Message, now: float) -> Outcome:
        """Apply one input; an input already applied returns an empty outcome."""
        if isinstance(msg, DispatchCommand):
            return self._command(msg, now)
        if isinstance(msg, IncidentUpdate):
            return self._fusion(msg, now)
        if isinstance(msg, UnitStatus):
            return self._unit_status(msg, now)
        if isinstance(msg, UnitInfo):
            return self._register(msg, now)
        raise TypeError(f"engine cannot apply {type(msg).__name__}")

    # -- helpers ---------------------------------------------------------------------------------
    def _event(self, out: Outcome, event_id: str, kind: K, now: float, incident_id: str = "", **kw) -> None:
        out.events.append(DispatchEvent(event_id=event_id, ts=now, kind=kind, incident_id=incident_id, **kw))

    def _touch(self, inc: Incident, before: str | None, now: float, out: Outcome, actor: str, action: str,
               command_id: str | None = None) -> None:
        """Record a change of `inc`: bump revision, refresh recommendations, audit it."""
        inc.revision += 1
        inc.updated_at = now
        if inc.status in OPEN:
            self.open_ids.add(inc.incident_id)
            inc.recommendations = recommend(inc, self._free, self.travel, now, rules=self.rules)
        else:
            self.open_ids.discard(inc.incident_id)
            inc.recommendations = []
        self.incidents[inc.incident_id] = inc
        out.incidents[inc.incident_id] = inc
        out.fusion_revisions[inc.incident_id] = self.fusion_revisions.get(inc.incident_id, 0)
        after = inc.model_dump_json()
        self._json[inc.incident_id] = after
        out.audit.append(AuditEntry(now, actor, "incident", inc.incident_id, action, command_id, before, after))

    def _before(self, inc: Incident) -> str:
        """The JSON of `inc` as last recorded (every change goes through `_touch`, which keeps it)."""
        return self._json.get(inc.incident_id) or inc.model_dump_json()

    def _unit_change(self, u: UnitRecord, now: float, out: Outcome, actor: str, action: str,
                     command_id: str | None = None, before: str | None = None) -> None:
        self.units[u.unit_id] = u
        self._reindex(u)
        out.units[u.unit_id] = u
        out.audit.append(AuditEntry(now, actor, "unit", u.unit_id, action, command_id, before, u.to_json()))

    def _reindex(self, u: UnitRecord) -> None:
        self._free.update(u)

    # -- fusion ----------------------------------------------------------------------------------
    def _fusion(self, up: IncidentUpdate, now: float) -> Outcome:
        out = Outcome()
        if up.revision <= self.fusion_revisions.get(up.incident_id, 0):
            return out  # this revision (or a later one) was applied already
        self.fusion_revisions[up.incident_id] = up.revision
        out.fusion_revisions[up.incident_id] = up.revision
        inc = self.incidents.get(up.incident_id)
        eid = f"fu:{up.incident_id}:{up.revision}"
        if inc is None:
            inc = Incident(incident_id=up.incident_id, revision=0, category=up.category, severity=up.severity,
                           priority=up.priority, cell=up.cell, district=up.district, lat=up.lat, lon=up.lon,
                           opened_at=up.opened_at, updated_at=now, why=up.why, sources=list(up.sources),
                           evidence=list(up.evidence), confidence=up.confidence)
            self._touch(inc, None, now, out, "fusion", "open")
            self._event(out, eid, K.INCIDENT_OPENED, now, inc.incident_id, actor="fusion", reason=up.why,
                        details={"revision": inc.revision, "fusion_revision": up.revision})
            return out
        before = self._before(inc)
        notes = _merge_fusion(inc, up)
        self._touch(inc, before, now, out, "fusion", "update")
        self._event(out, eid, K.INCIDENT_UPDATED, now, inc.incident_id, actor="fusion",
                    reason="; ".join(notes) or up.why,
                    details={"revision": inc.revision, "fusion_revision": up.revision, "evidence": len(inc.evidence)})
        return out

    # -- units -----------------------------------------------------------------------------------
    def _register(self, info: UnitInfo, now: float) -> Outcome:
        out = Outcome()
        old = self.units.get(info.unit_id)
        if old is not None and old.info == info:
            return out
        before = old.to_json() if old else None
        u = old or UnitRecord.new(info, now)
        u.info = info
        self._unit_change(u, now, out, "registry", "register", None, before)
        self._event(out, f"reg:{info.unit_id}:{hashlib.sha1(info.model_dump_json().encode()).hexdigest()[:10]}",
                    K.UNIT_UPDATED, now, actor="registry", details={"unit_id": info.unit_id, "registered": True})
        return out

    def _unit_status(self, st: UnitStatus, now: float) -> Outcome:
        out = Outcome()
        u = self.units.get(st.unit_id)
        if u is None:
            self._event(out, f"us:{st.unit_id}:{st.ts}", K.COMMAND_REFUSED, now, st.incident_id or "",
                        actor=st.unit_id, reason=f"status for unknown unit {st.unit_id} ignored (not in the registry)")
            return out
        moved = st.lat is not None and st.lon is not None and (st.lat, st.lon) != (u.lat, u.lon)
        if st.status is u.status and not moved:
            return out  # a repeat: nothing changed
        if st.ts < u.ts and st.status is not u.status:
            return out  # an older report arriving late must not undo a newer one
        before = u.to_json()
        status_changed = st.status is not u.status
        u.status = st.status
        u.ts = max(u.ts, st.ts)
        if moved:
            u.lat, u.lon = float(st.lat), float(st.lon)  # type: ignore[arg-type]
        if not status_changed:
            # a position fix only: persisted, not an audited dispatch change
            self._reindex(u)
            out.units[u.unit_id] = u
            return out
        inc = self.incidents.get(u.incident_id or st.incident_id or "")
        if inc is not None and u.unit_id in inc.assigned_units:
            self._unit_moves_incident(u, inc, st, now, out)
        self._unit_change(u, now, out, st.unit_id, f"status:{st.status.value}", None, before)
        self._event(out, f"us:{u.unit_id}:{st.ts}:{st.status.value}", K.UNIT_UPDATED, now,
                    inc.incident_id if inc else "", actor=u.unit_id,
                    details={"unit_id": u.unit_id, "status": st.status.value})
        return out

    def _unit_moves_incident(self, u: UnitRecord, inc: Incident, st: UnitStatus, now: float, out: Outcome) -> None:
        """A unit's own report moves its incident on (arrival) or releases it (returning, available, out of service)."""
        if st.status is UnitState.ON_SCENE and inc.status is S.DISPATCHED:
            before = self._before(inc)
            inc.status = S.ON_SCENE
            inc.on_scene_at = inc.on_scene_at or now
            self._touch(inc, before, now, out, u.unit_id, "arrive")
        elif st.status in (UnitState.AVAILABLE, UnitState.RETURNING, UnitState.OUT_OF_SERVICE) and inc.status in OPEN:
            before = self._before(inc)
            inc.assigned_units = [x for x in inc.assigned_units if x != u.unit_id]
            u.incident_id = None
            if not inc.assigned_units and inc.status is S.DISPATCHED:
                inc.status = S.ACKNOWLEDGED
            self._touch(inc, before, now, out, u.unit_id, f"unit_{st.status.value}")

    def _release(self, inc: Incident, unit_ids: list[str], now: float, out: Outcome, cmd: DispatchCommand,
                 at_scene: bool) -> None:
        for uid in unit_ids:
            u = self.units.get(uid)
            if u is None or u.incident_id != inc.incident_id:
                continue
            before = u.to_json()
            was_there = u.status is UnitState.ON_SCENE
            u.incident_id = None
            u.status = UnitState.AVAILABLE
            if at_scene and was_there:
                u.lat, u.lon = inc.lat, inc.lon
            self._unit_change(u, now, out, cmd.actor, "release", cmd.command_id, before)
        inc.assigned_units = [x for x in inc.assigned_units if x not in unit_ids]

    def _take(self, inc: Incident, unit_ids: list[str], now: float, out: Outcome, cmd: DispatchCommand) -> None:
        for uid in unit_ids:
            u = self.units[uid]
            if u.incident_id and u.incident_id != inc.incident_id:
                other = self.incidents.get(u.incident_id)
                if other is not None:  # a dispatcher's override pulls the unit off another job
                    before_o = self._before(other)
                    other.assigned_units = [x for x in other.assigned_units if x != uid]
                    if not other.assigned_units and other.status is S.DISPATCHED:
                        other.status = S.ACKNOWLEDGED
                    self._touch(other, before_o, now, out, cmd.actor, f"unit_taken:{uid}", cmd.command_id)
            before = u.to_json()
            u.incident_id = inc.incident_id
            u.status = UnitState.EN_ROUTE
            self._unit_change(u, now, out, cmd.actor, "assign", cmd.command_id, before)
            if uid not in inc.assigned_units:
                inc.assigned_units.append(uid)

    # -- commands --------------------------------------------------------------------------------
    def _command(self, cmd: DispatchCommand, now: float) -> Outcome:
        out = Outcome()
        if cmd.command_id in self.processed:
            return out
        self.processed.add(cmd.command_id)
        inc = self.incidents.get(cmd.incident_id)
        reason = (f"unknown incident {cmd.incident_id}" if inc is None
                  else lifecycle.refusal(inc, cmd) or self._unit_refusal(inc, cmd) or self._merge_refusal(cmd))
        if reason:
            out.processed.append((cmd.command_id, now, "refused: " + reason))
            self._event(out, f"{cmd.command_id}:refused", K.COMMAND_REFUSED, now, cmd.incident_id,
                        command_id=cmd.command_id, actor=cmd.actor, reason=reason,
                        details={"action": cmd.action.value})
            return out
        assert inc is not None
        before = self._before(inc)
        details = getattr(self, f"_do_{cmd.action.value}")(inc, cmd, now, out) or {}
        self._touch(inc, before, now, out, cmd.actor, cmd.action.value, cmd.command_id)
        out.processed.append((cmd.command_id, now, "applied"))
        self._event(out, f"{cmd.command_id}:applied", K.COMMAND_APPLIED, now, inc.incident_id,
                    command_id=cmd.command_id, actor=cmd.actor, reason=cmd.reason,
                    details={"action": cmd.action.value, "status": inc.status.value, "revision": inc.revision,
                             "unit_ids": list(cmd.unit_ids), "override": cmd.override, **details})
        if cmd.action is A.ESCALATE:
            self._event(out, f"{cmd.command_id}:escalated", K.ESCALATED, now, inc.incident_id,
                        command_id=cmd.command_id, actor=cmd.actor, reason=cmd.reason or "escalated by dispatcher",
                        details={"level": inc.escalation_level, "priority": inc.priority})
        return out

    def _unit_refusal(self, inc: Incident, cmd: DispatchCommand) -> str | None:
        if cmd.action not in (A.ASSIGN, A.REASSIGN):
            return None
        unknown = [u for u in cmd.unit_ids if u not in self.units]
        if unknown:
            return f"unknown unit(s): {', '.join(unknown)}"
        if cmd.action is A.ASSIGN:
            dup = [u for u in cmd.unit_ids if u in inc.assigned_units]
            if dup:
                return f"already assigned to {inc.incident_id}: {', '.join(dup)}"
        for uid in cmd.unit_ids:
            u = self.units[uid]
            if not cmd.override and not on_shift(u.info.shift, cmd.ts):
                return f"unit {uid} is off shift ({u.info.shift}); override with a reason to call it in"
            if u.incident_id == inc.incident_id or u.free or cmd.override:
                continue
            where = f" on {u.incident_id}" if u.incident_id else ""
            return f"unit {uid} is not available ({u.status.value}{where}); override with a reason to take it"
        return None

    def _merge_refusal(self, cmd: DispatchCommand) -> str | None:
        if cmd.action is not A.MERGE:
            return None
        target = self.incidents.get(cmd.target_incident_id or "")
        if target is None:
            return f"merge: unknown target incident {cmd.target_incident_id}"
        if target.status not in OPEN:
            return f"merge: target {target.incident_id} is {target.status.value}"
        return None

    def _do_acknowledge(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        inc.status = S.ACKNOWLEDGED
        inc.acknowledged_at = now

    def _do_assign(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        self._take(inc, cmd.unit_ids, now, out, cmd)
        if inc.status in (S.NEW, S.ACKNOWLEDGED):
            inc.acknowledged_at = inc.acknowledged_at or now
            inc.dispatched_at = inc.dispatched_at or now
            inc.status = S.DISPATCHED

    def _do_reassign(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> dict:
        dropped = [u for u in inc.assigned_units if u not in cmd.unit_ids]
        self._release(inc, dropped, now, out, cmd, at_scene=False)
        self._take(inc, [u for u in cmd.unit_ids if u not in inc.assigned_units], now, out, cmd)
        if not any(self.units[u].status is UnitState.ON_SCENE for u in inc.assigned_units):
            inc.status = S.DISPATCHED
        return {"released": dropped}

    def _do_unassign(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        self._release(inc, cmd.unit_ids, now, out, cmd, at_scene=False)
        if not inc.assigned_units:
            inc.status = S.ACKNOWLEDGED

    def _do_arrive(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        for uid in cmd.unit_ids or inc.assigned_units[:1]:
            u = self.units.get(uid)
            if u is not None and u.status is not UnitState.ON_SCENE:
                before = u.to_json()
                u.status = UnitState.ON_SCENE
                self._unit_change(u, now, out, cmd.actor, "arrive", cmd.command_id, before)
        inc.status = S.ON_SCENE
        inc.on_scene_at = inc.on_scene_at or now

    def _do_escalate(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        _escalate(inc)

    def _do_note(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        inc.notes.append({"ts": now, "actor": cmd.actor, "text": cmd.note or cmd.reason, "command_id": cmd.command_id})

    def _finish(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome, status: S) -> None:
        self._release(inc, list(inc.assigned_units), now, out, cmd, at_scene=True)
        inc.status = status
        if cmd.reason:
            inc.notes.append({"ts": now, "actor": cmd.actor, "text": f"{status.value}: {cmd.reason}",
                              "command_id": cmd.command_id, "override": cmd.override})

    def _do_resolve(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        self._finish(inc, cmd, now, out, S.RESOLVED)
        inc.resolved_at = now

    def _do_close(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        self._finish(inc, cmd, now, out, S.CLOSED)

    def _do_false_alarm(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> None:
        self._finish(inc, cmd, now, out, S.FALSE_ALARM)

    def _do_reopen(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> dict:
        details: dict = {}
        if inc.status is S.MERGED and inc.merged_into:
            details = self._unmerge(inc, now, out, cmd)
        inc.status = S.ACKNOWLEDGED
        inc.merged_into = None
        inc.resolved_at = None
        return details

    def _do_merge(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> dict:
        target = self.incidents[cmd.target_incident_id or ""]
        before_t = self._before(target)
        have = {e.alert_id for e in target.evidence}
        added = [e.alert_id for e in inc.evidence if e.alert_id not in have]
        target.evidence.extend(e.model_copy() for e in inc.evidence if e.alert_id not in have)
        target.sources = sorted(set(target.sources) | set(inc.sources))
        target.severity = max(target.severity, inc.severity)
        target.priority = min(target.priority, inc.priority)
        moved = list(inc.assigned_units)
        inc.assigned_units = []
        for uid in moved:  # the units keep working, now for the merged incident
            self.units[uid].incident_id = target.incident_id
            out.units[uid] = self.units[uid]
            if uid not in target.assigned_units:
                target.assigned_units.append(uid)
        if moved and target.status in (S.NEW, S.ACKNOWLEDGED):
            target.status = S.DISPATCHED
            target.dispatched_at = target.dispatched_at or now
        target.notes.append({"ts": now, "actor": cmd.actor, "kind": "merge", "from": inc.incident_id,
                             "added_evidence": added, "moved_units": moved, "command_id": cmd.command_id})
        self._touch(target, before_t, now, out, cmd.actor, f"merge_from:{inc.incident_id}", cmd.command_id)
        inc.status = S.MERGED
        inc.merged_into = target.incident_id
        return {"target_incident_id": target.incident_id, "evidence_ids": added, "moved_units": moved}

    def _unmerge(self, inc: Incident, now: float, out: Outcome, cmd: DispatchCommand) -> dict:
        """Undo a merge: take the evidence the merge added back off the target."""
        target = self.incidents.get(inc.merged_into or "")
        if target is None:
            return {}
        rec = next((n for n in reversed(target.notes) if n.get("kind") == "merge" and n.get("from") == inc.incident_id),
                   None)
        added = set(rec.get("added_evidence", [])) if rec else set()
        before_t = self._before(target)
        target.evidence = [e for e in target.evidence if e.alert_id not in added]
        target.notes.append({"ts": now, "actor": cmd.actor, "kind": "unmerge", "from": inc.incident_id,
                             "removed_evidence": sorted(added), "command_id": cmd.command_id})
        self._touch(target, before_t, now, out, cmd.actor, f"unmerge:{inc.incident_id}", cmd.command_id)
        return {"unmerged_from": target.incident_id, "evidence_ids": sorted(added)}

    def _do_split(self, inc: Incident, cmd: DispatchCommand, now: float, out: Outcome) -> dict:
        ids = set(cmd.evidence_ids)
        new_id = f"{inc.incident_id}~{hashlib.sha1(cmd.command_id.encode()).hexdigest()[:8]}"
        moved = [e for e in inc.evidence if e.alert_id in ids]
        inc.evidence = [e for e in inc.evidence if e.alert_id not in ids]
        inc.sources = sorted({e.source for e in inc.evidence})
        first = min(moved, key=lambda e: e.ts)
        new = inc.model_copy(update={
            "incident_id": new_id, "revision": 0, "status": S.ACKNOWLEDGED, "evidence": moved,
            "sources": sorted({e.source for e in moved}), "opened_at": min(e.ts for e in moved) if moved else now,
            "acknowledged_at": now, "dispatched_at": None, "on_scene_at": None, "resolved_at": None,
            "assigned_units": [], "sla_breaches": [], "escalated": False, "escalation_level": 0,
            "merged_into": None, "cell": first.cell or inc.cell,
            "notes": [{"ts": now, "actor": cmd.actor, "kind": "split", "from": inc.incident_id,
                       "command_id": cmd.command_id}],
            "why": f"split from {inc.incident_id} by {cmd.actor}: {cmd.reason or 'separate incident'}"}, deep=True)
        self._touch(new, None, now, out, cmd.actor, f"split_from:{inc.incident_id}", cmd.command_id)
        self._event(out, f"{cmd.command_id}:opened", K.INCIDENT_OPENED, now, new_id, command_id=cmd.command_id,
                    actor=cmd.actor, reason=new.why, details={"split_from": inc.incident_id})
        return {"new_incident_id": new_id, "evidence_ids": sorted(ids)}

    # -- timers ----------------------------------------------------------------------------------
    def tick(self, now: float) -> Outcome:
        """SLA breaches (recorded once, escalating) and reminders for unacknowledged incidents."""
        out = Outcome()
        for iid in sorted(self.open_ids):
            inc = self.incidents[iid]
            stages = self.sla.breaches(inc, now)
            if stages:
                before = self._before(inc)
                for stage in stages:
                    inc.sla_breaches.append(stage)
                    _escalate(inc, raise_priority=False)
                    late = now - self.sla.deadline(inc, stage)
                    self._event(out, f"sla:{iid}:{stage}", K.SLA_BREACH, now, iid, actor="sla",
                                reason=f"{stage} target of P{inc.priority} missed by {late:.0f} s",
                                details={"stage": stage, "deadline": self.sla.deadline(inc, stage)})
                    self._event(out, f"sla:{iid}:{stage}:esc", K.ESCALATED, now, iid, actor="sla",
                                reason=f"SLA breach: {stage}", details={"level": inc.escalation_level})
                self._touch(inc, before, now, out, "sla", "sla_breach:" + ",".join(stages))
            if self.sla.reminder_due(inc, now, self._reminded.get(iid)):
                self._reminded[iid] = now
                self._event(out, f"rem:{iid}:{now:.0f}", K.SLA_REMINDER, now, iid, actor="sla",
                            reason=f"not acknowledged {now - inc.opened_at:.0f} s after opening (P{inc.priority})")
        return out

    def refresh_recommendations(self, now: float) -> Outcome:
        """Re-rank units for incidents still waiting for dispatch when the free fleet has changed under them."""
        out = Outcome()
        for iid in sorted(self.open_ids):
            inc = self.incidents[iid]
            if inc.status not in (S.NEW, S.ACKNOWLEDGED):
                continue
            fresh = recommend(inc, self._free, self.travel, now, rules=self.rules)
            if [r["unit_id"] for r in fresh] == [r["unit_id"] for r in inc.recommendations]:
                continue
            before = self._before(inc)
            self._touch(inc, before, now, out, "recommender", "recommendations")
            self._event(out, f"rec:{iid}:{inc.revision}", K.RECOMMENDATION, now, iid, actor="recommender",
                        reason="free units changed",
                        details={"units": [r["unit_id"] for r in inc.recommendations if r["unit_id"]][:5]})
        return out

    def next_deadline(self) -> float | None:
        ds = [d for d in (self.sla.next_deadline(self.incidents[i]) for i in self.open_ids) if d is not None]
        return min(ds) if ds else None


def _escalate(inc: Incident, raise_priority: bool = True) -> None:
    inc.escalated = True
    inc.escalation_level += 1
    if raise_priority:
        inc.priority = max(1, inc.priority - 1)


def _merge_fusion(inc: Incident, up: IncidentUpdate) -> list[str]:
    """Fold fusion's newer view into the lifecycle state; returns what a dispatcher should know."""
    notes: list[str] = []
    by_id = {e.alert_id: i for i, e in enumerate(inc.evidence)}
    for e in up.evidence:
        if e.alert_id in by_id:
            old = inc.evidence[by_id[e.alert_id]]
            ids = list(dict.fromkeys(old.message_ids + e.message_ids))
            inc.evidence[by_id[e.alert_id]] = e.model_copy(update={"message_ids": ids})
        else:
            inc.evidence.append(EvidenceItem.model_validate(e.model_dump()))
    if up.severity > inc.severity:
        notes.append(f"severity raised {inc.severity} → {up.severity}")
        inc.severity = up.severity
    elif up.severity < inc.severity:
        notes.append(f"fusion suggests severity {up.severity}; kept {inc.severity} (lower it by hand)")
    if up.priority < inc.priority:
        notes.append(f"priority raised P{inc.priority} → P{up.priority}")
        inc.priority = up.priority
    if up.category != inc.category:
        notes.append(f"category {inc.category} → {up.category}")
        inc.category = up.category
    inc.sources = sorted(set(inc.sources) | set(up.sources))
    inc.confidence, inc.why = up.confidence, up.why
    if inc.status is S.NEW:  # the place may still move while nobody has been sent
        inc.cell, inc.district, inc.lat, inc.lon = up.cell, up.district, up.lat, up.lon
    return notes


def dumps_outcome(out: Outcome) -> str:
    """A compact JSON summary of an outcome (for logs and the CLI)."""
    return json.dumps({"events": [e.kind.value for e in out.events], "incidents": sorted(out.incidents),
                       "units": sorted(out.units)})
