"""The lookup: plans, contacts and recent unscheduled accesses, audited in one transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from app.abuse import service as abuse
from app.abuse.schemas import HarvestLimits
from app.audit.repository import Stamped, stamp, unplaced_fields
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import HealthUser, actor_of
from app.config import Settings
from app.errors import Forbidden
from app.lookup import repository
from app.lookup.schemas import PLAN_LIST, LookupAnswer, LookupRequest
from app.notify import service as notify
from app.notify.ids import notification_id
from app.patterns import service as patterns
from app.patterns.rules import Attendance, AttendanceRule, rules_from_settings
from app.plans.visibility import plan_status


@dataclass(frozen=True)
class LookupPolicy:
    """What a lookup enforces beyond the contract's rules, read from settings once."""

    limits: HarvestLimits
    attendance_rules: Sequence[AttendanceRule]

    @classmethod
    def from_settings(cls, settings: Settings) -> LookupPolicy:
        return cls(HarvestLimits.from_settings(settings), rules_from_settings(settings))


def decide_unscheduled(user: HealthUser, asked: bool | None) -> bool:
    """B0107 looks are unscheduled by default; B0170 alone may only read silently."""
    if not user.can_view:
        raise Forbidden("the selected role has no CP-IS activity (B0107 or B0170)")
    if asked is None:
        return user.can_notify
    if asked and not user.can_notify:
        raise Forbidden("an unscheduled access needs activity B0107 in the selected role")
    return asked


async def look_up(
    conn: asyncpg.Connection,
    user: HealthUser,
    request: LookupRequest,
    *,
    request_id: str | None,
    today: date,
    policy: LookupPolicy,
) -> LookupAnswer:
    """Answer a lookup and record it, on ``conn`` (from app/db/pool.py, not in a transaction).

    Everything it writes has committed when it returns. The audit row, and for an
    unscheduled look at a flagged child one ``access`` notification per responsible
    authority, are written in the same transaction as the read, so no plan is ever shown
    without a record of who saw it. Such a look also checks the policy's attendance-pattern
    rules and may raise ``attendance-pattern`` notifications. A caller over the policy's
    harvest limits is refused before anything is answered or recorded. A child with no
    visible plan takes one statement; a flagged child two, in a transaction
    (app/lookup/repository.py).
    """
    unscheduled = decide_unscheduled(user, request.unscheduled)
    nhs_number = request.nhs_number
    access_id = uuid.uuid4()

    def event(plans_shown: int) -> NewAuditEvent:
        return NewAuditEvent(
            kind=AuditKind.LOOKUP,
            actor=actor_of(user),
            request_id=request_id,
            detail={"access_id": str(access_id), "plans_shown": plans_shown},
            subject_nhs_number=nhs_number,
            unscheduled=unscheduled,
            care_setting=request.care_setting.value,
        )

    limits = policy.limits
    # Most children looked up hold no plan: one statement, committed by itself, answers
    # and records those (app/lookup/repository.py, ``quick()``).
    counts = await repository.record_if_unflagged(
        conn,
        fields=unplaced_fields(event(0)),
        org_code=user.org_code,
        window_seconds=limits.window_seconds,
        today=today,
        limits=(limits.user, limits.organisation),
    )
    if counts is None:
        return LookupAnswer(access_id, nhs_number, [], "[]")
    # A flagged child, a caller over a limit (refused here, on the counts the statement
    # read), or every chain head busy. Nothing is answered before the commit.
    await abuse.enforce(conn, user, counts, limits)
    async with conn.transaction():
        opened = await repository.open_lookup(
            conn, nhs_number=nhs_number, today=today, lock_if_flagged=unscheduled
        )
        plans = opened.plans
        head = opened.head or await repository.lock_head(conn)
        if unscheduled and plans and not opened.child_locked:
            await repository.lock_child(conn, nhs_number)
        stamped = stamp(head, event(len(plans)))
        history = "[]"
        if plans:
            history = await _record_flagged(
                conn, user, stamped, plans, unscheduled=unscheduled, policy=policy
            )
        else:
            await repository.append(conn, stamped)
    # Validated once, as a whole, from plain dicts: one call into pydantic's core rather
    # than one per plan. The history comes as JSON, built by the statement that read it.
    return LookupAnswer(
        access_id,
        nhs_number,
        PLAN_LIST.validate_python(
            [
                {
                    "plan_type": plan["plan_type"],
                    "start_date": plan["start_date"],
                    "end_date": plan["end_date"],
                    "status": plan_status(plan["end_date"], today),
                    "local_authority": {
                        "code": plan["code"],
                        "name": plan["name"],
                        "office_hours_phone": plan["office_hours_phone"],
                        "emergency_duty_phone": plan["emergency_duty_phone"],
                    },
                }
                for plan in plans
            ]
        ),
        history,
    )


async def _record_flagged(
    conn: asyncpg.Connection,
    user: HealthUser,
    event: Stamped,
    plans: Sequence[Mapping[str, Any]],
    *,
    unscheduled: bool,
    policy: LookupPolicy,
) -> str:
    """Record a look at a flagged child; its notifications and alerts; its history as JSON."""
    fields = event.fields
    nhs_number: str = fields["subject_nhs_number"]
    now: datetime = fields["occurred_at"]
    types_by_authority: dict[str, list[str]] = defaultdict(list)
    for plan in plans:
        types_by_authority[plan["code"]].append(plan["plan_type"])
    rules = policy.attendance_rules if unscheduled else ()
    notifications = []
    if unscheduled:
        payloads = notify.access_payloads(
            nhs_number=nhs_number,
            plan_types_by_authority=types_by_authority,
            user=user,
            accessed_at=now,
            care_setting=fields["care_setting"],
        )
        notifications = [(notification_id(), code, payload) for code, payload in payloads]
    recorded = await repository.record(
        conn,
        event,
        notifications=notifications,
        looks_since=now - max(rule.window for rule in rules) if rules else None,
        alerts_for=(sorted(types_by_authority), [rule.name for rule in rules]),
    )
    if rules:
        this_look = Attendance(
            seq=fields["seq"],
            accessed_at=now,
            user_name=user.name,
            role_name=user.role_name,
            org_code=user.org_code,
            org_name=user.org_name,
            care_setting=fields["care_setting"],
        )
        looks = sorted(
            [Attendance(**look) for look in recorded.looks] + [this_look],
            key=lambda a: (a.accessed_at, a.seq),
        )
        alerts = patterns.due_alerts(
            nhs_number=nhs_number,
            looks=looks,
            alerted_through=recorded.alerted_through,
            plan_types_by_authority=types_by_authority,
            now=now,
            rules=rules,
        )
        if alerts:
            await patterns.raise_alerts(conn, nhs_number, alerts)
    return recorded.history
