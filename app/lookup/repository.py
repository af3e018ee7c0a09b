"""All SQL of the lookup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.plans.visibility import visible_sql

HISTORY_LIMIT = 25

_VISIBLE_PLANS = text(
    f"""
    SELECT p.plan_type, p.start_date, p.end_date, la.code, la.name,
           la.office_hours_phone, la.emergency_duty_phone
    FROM plans p JOIN local_authorities la ON la.code = p.local_authority_code
    WHERE p.nhs_number = :nhs_number AND {visible_sql("p")}
    ORDER BY p.start_date DESC, la.code, p.plan_type
    """
)

# A look is listed unless the same user looked at the same child in the 24 hours
# before it: the first look of a burst stands for the burst (CONTRACT §3.1).
# actor_id and request_id are not shown by the lookup; the FHIR AuditEvent needs them.
_UNSCHEDULED_HISTORY = text(
    f"""
    SELECT a.occurred_at AS accessed_at, a.actor->>'name' AS user_name,
           a.actor->>'role_name' AS role_name, a.actor->>'org_code' AS org_code,
           a.actor->>'org_name' AS org_name, a.care_setting,
           a.actor_id, a.request_id
    FROM audit_events a
    WHERE a.subject_nhs_number = :nhs_number AND a.kind = 'lookup' AND a.unscheduled
      AND NOT EXISTS (
        SELECT 1 FROM audit_events b
        WHERE b.subject_nhs_number = :nhs_number AND b.kind = 'lookup' AND b.unscheduled
          AND b.actor_id = a.actor_id
          AND b.occurred_at < a.occurred_at
          AND b.occurred_at > a.occurred_at - interval '24 hours')
    ORDER BY a.occurred_at DESC, a.seq DESC
    LIMIT {HISTORY_LIMIT}
    """
)


async def visible_plans(session: AsyncSession, nhs_number: str, today: date) -> Sequence[Row[Any]]:
    result = await session.execute(_VISIBLE_PLANS, {"nhs_number": nhs_number, "today": today})
    return result.all()


async def unscheduled_history(session: AsyncSession, nhs_number: str) -> Sequence[Row[Any]]:
    result = await session.execute(_UNSCHEDULED_HISTORY, {"nhs_number": nhs_number})
    return result.all()
