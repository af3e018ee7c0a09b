"""Attendance-pattern alerts after an unscheduled lookup of a flagged child.

The lookup reads what the check needs in its own statements (under the child's lock,
after its audit row: see app/lookup/service.py); deciding is pure and raising is one
statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg

from app.observability.metrics import ATTENDANCE_PATTERN_ALERTS
from app.patterns import repository
from app.patterns.rules import Alert, Attendance, AttendanceRule, attendances_of, eligible_for


def due_alerts(
    *,
    nhs_number: str,
    looks: Sequence[Attendance],
    alerted_through: Mapping[tuple[str, str], datetime],
    plan_types_by_authority: Mapping[str, Sequence[str]],
    now: datetime,
    rules: Sequence[AttendanceRule],
) -> list[Alert]:
    """The alerts this look raises: each responsible authority, once per rule reached.

    ``looks`` are the child's unscheduled looks in the widest rule's window, the current
    one included, oldest first; they count as attendances one per organisation per 24
    hours (rules.attendances_of). ``alerted_through`` maps (authority, rule) to the newest
    attendance behind its previous alert: an alert counts only newer attendances, so the
    same rule does not fire again until its window has moved wholly past the attendances
    that fired it.
    """
    attendances = attendances_of(looks)
    alerts = []
    for code in sorted(plan_types_by_authority):
        for rule in rules:
            counted = eligible_for(
                rule,
                attendances,
                now=now,
                already_alerted_through=alerted_through.get((code, rule.name)),
            )
            if counted and rule.reached(counted):
                payload = {
                    "nhs_number": nhs_number,
                    "plan_types": sorted(set(plan_types_by_authority[code])),
                    "rule": rule.name,
                    "window_days": rule.window_days,
                    "threshold": rule.threshold,
                    "attendances": [a.as_notified() for a in counted],
                }
                alerts.append(Alert(code, rule.name, rule.window_days, counted, payload))
    return alerts


async def raise_alerts(conn: asyncpg.Connection, nhs_number: str, alerts: Sequence[Alert]) -> None:
    """Notify and remember ``alerts`` in the caller's transaction."""
    await repository.raise_alerts(conn, nhs_number, alerts)
    for alert in alerts:
        ATTENDANCE_PATTERN_ALERTS.labels(rule=alert.rule).inc()
