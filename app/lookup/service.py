"""The lookup: plans, contacts and recent unscheduled accesses, audited in one transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.abuse import service as abuse
from app.abuse.schemas import HarvestLimits
from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import HealthUser, actor_of
from app.config import Settings
from app.errors import Forbidden
from app.lookup import repository
from app.lookup.schemas import (
    AccessEntry,
    LocalAuthorityContact,
    LookupRequest,
    LookupResponse,
    PlanView,
)
from app.notify import service as notify
from app.patterns.rules import AttendanceRule, rules_from_settings
from app.patterns.service import check_attendance_patterns
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
    session: AsyncSession,
    user: HealthUser,
    request: LookupRequest,
    *,
    request_id: str | None,
    today: date,
    policy: LookupPolicy,
) -> LookupResponse:
    """Answer a lookup and record it; the caller's transaction must commit before replying.

    The audit row, and for an unscheduled look at a flagged child one ``access``
    notification per responsible authority, are written in the same transaction as
    the read, so no plan is ever shown without a record of who saw it. Such a look
    also checks the policy's attendance-pattern rules and may raise
    ``attendance-pattern`` notifications. A caller over the policy's harvest limits is
    refused before any plan is read.
    """
    unscheduled = decide_unscheduled(user, request.unscheduled)
    nhs_number = request.nhs_number
    await abuse.check_lookup(session, user, nhs_number, policy.limits)
    rows = await repository.visible_plans(session, nhs_number, today)
    access_id = uuid.uuid4()
    appended = await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.LOOKUP,
            actor=actor_of(user),
            request_id=request_id,
            detail={"access_id": str(access_id), "plans_shown": len(rows)},
            subject_nhs_number=nhs_number,
            unscheduled=unscheduled,
            care_setting=request.care_setting.value,
        ),
    )
    if unscheduled and rows:
        types_by_authority: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            types_by_authority[row["code"]].append(row["plan_type"])
        await notify.notify_access(
            session,
            nhs_number=nhs_number,
            plan_types_by_authority=types_by_authority,
            user=user,
            accessed_at=appended.occurred_at,
            care_setting=request.care_setting.value,
        )
        await check_attendance_patterns(
            session,
            nhs_number=nhs_number,
            plan_types_by_authority=types_by_authority,
            now=appended.occurred_at,
            rules=policy.attendance_rules,
        )
    history = await repository.unscheduled_history(session, nhs_number) if rows else []
    return LookupResponse(
        access_id=access_id,
        nhs_number=nhs_number,
        has_plans=bool(rows),
        plans=[
            PlanView(
                plan_type=row["plan_type"],
                start_date=row["start_date"],
                end_date=row["end_date"],
                status=plan_status(row["end_date"], today),
                local_authority=LocalAuthorityContact(
                    code=row["code"],
                    name=row["name"],
                    office_hours_phone=row["office_hours_phone"],
                    emergency_duty_phone=row["emergency_duty_phone"],
                ),
            )
            for row in rows
        ],
        access_history=[AccessEntry.model_validate(dict(row)) for row in history],
    )
