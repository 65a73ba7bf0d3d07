"""dispatch: incidents after they are raised: lifecycle, units, assignment, SLA and escalation, the durable store and the audit trail."""
