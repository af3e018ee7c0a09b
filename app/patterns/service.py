"""Raising attendance-pattern alerts after an unscheduled lookup of a flagged child."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.notify import repository as notifications
from app.observability.metrics import ATTENDANCE_PATTERN_ALERTS
from app.patterns import repository
from app.patterns.rules import Attendance, AttendanceRule, attendances_of, eligible_for

NOTIFICATION_TYPE = "attendance-pattern"


async def check_attendance_patterns(
    session: AsyncSession,
    *,
    nhs_number: str,
    plan_types_by_authority: Mapping[str, Sequence[str]],
    now: datetime,
    rules: Sequence[AttendanceRule],
) -> int:
    """Notify each responsible authority once per rule reached; returns alerts raised.

    Runs in the lookup's transaction after its audit row, which therefore counts.
    Attendances come from the audit trail (unscheduled lookups, one per organisation
    per 24 hours: see rules.attendances_of). An alert of a rule for an authority
    counts only attendances newer than those behind its previous alert of that rule,
    so the same rule does not fire again until its window has moved wholly past the
    attendances that fired it. Cost: an advisory lock and two indexed queries.
    """
    if not rules or not plan_types_by_authority:
        return 0
    await repository.lock_child(session, nhs_number)
    widest = max(rule.window for rule in rules)
    attendances = attendances_of(
        await repository.unscheduled_looks(session, nhs_number, now - widest)
    )
    through = await repository.alerted_through(session, nhs_number)
    fired: list[tuple[str, AttendanceRule, list[Attendance]]] = []
    for code in sorted(plan_types_by_authority):
        for rule in rules:
            counted = eligible_for(
                rule, attendances, now=now, already_alerted_through=through.get((code, rule.name))
            )
            if counted and rule.reached(counted):
                fired.append((code, rule, counted))
    if fired:
        await _raise(session, nhs_number, plan_types_by_authority, fired)
    return len(fired)


async def _raise(
    session: AsyncSession,
    nhs_number: str,
    plan_types_by_authority: Mapping[str, Sequence[str]],
    fired: Sequence[tuple[str, AttendanceRule, list[Attendance]]],
) -> None:
    payloads: list[tuple[str, dict[str, Any]]] = [
        (
            code,
            {
                "nhs_number": nhs_number,
                "plan_types": sorted(set(plan_types_by_authority[code])),
                "rule": rule.name,
                "window_days": rule.window_days,
                "threshold": rule.threshold,
                "attendances": [a.as_notified() for a in counted],
            },
        )
        for code, rule, counted in fired
    ]
    ids = await notifications.insert_many(
        session, type_=NOTIFICATION_TYPE, nhs_number=nhs_number, payloads=payloads
    )
    await repository.record_alerts(
        session,
        nhs_number,
        [
            (code, rule.name, rule.window_days, counted, id_)
            for (code, rule, counted), id_ in zip(fired, ids, strict=True)
        ],
    )
    for _, rule, _ in fired:
        ATTENDANCE_PATTERN_ALERTS.labels(rule=rule.name).inc()
