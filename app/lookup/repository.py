"""All SQL of the lookup.

Raw asyncpg on the session's own connection and transaction (app/db/raw.py): these two
statements run on every lookup, and through the ORM session they cost more than the
database work itself (measured by ``make bench``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.raw import driver_connection
from app.plans.visibility import visible_sql

HISTORY_LIMIT = 25

_VISIBLE_PLANS = f"""
    SELECT p.plan_type, p.start_date, p.end_date, la.code, la.name,
           la.office_hours_phone, la.emergency_duty_phone
    FROM plans p JOIN local_authorities la ON la.code = p.local_authority_code
    WHERE p.nhs_number = $1 AND {visible_sql("p").replace(":today", "$2")}
    ORDER BY p.start_date DESC, la.code, p.plan_type
    """

# A look is listed unless the same user looked at the same child in the 24 hours
# before it: the first look of a burst stands for the burst (CONTRACT §3.1).
# OFFSET 0 keeps NOT EXISTS a per-row probe of the 24 hours before each listed look.
# Without it PostgreSQL turned it into an anti-join that read *every* unscheduled look at
# the child (28 ms for a child with 2,000 in a 10 M-event trail, make bench L3); with it
# the work stays bounded by the 25 rows listed, however long the trail grows.
# actor_id and request_id are not shown by the lookup; the FHIR AuditEvent needs them.
_UNSCHEDULED_HISTORY = f"""
    SELECT a.occurred_at AS accessed_at, a.actor->>'name' AS user_name,
           a.actor->>'role_name' AS role_name, a.actor->>'org_code' AS org_code,
           a.actor->>'org_name' AS org_name, a.care_setting,
           a.actor_id, a.request_id
    FROM audit_events a
    WHERE a.subject_nhs_number = $1 AND a.kind = 'lookup' AND a.unscheduled
      AND NOT EXISTS (
        SELECT 1 FROM audit_events b
        WHERE b.subject_nhs_number = $1 AND b.kind = 'lookup' AND b.unscheduled
          AND b.actor_id = a.actor_id
          AND b.occurred_at < a.occurred_at
          AND b.occurred_at > a.occurred_at - interval '24 hours'
        OFFSET 0)
    ORDER BY a.occurred_at DESC, a.seq DESC
    LIMIT {HISTORY_LIMIT}
    """


async def visible_plans(
    session: AsyncSession, nhs_number: str, today: date
) -> Sequence[asyncpg.Record]:
    conn = await driver_connection(session)
    return await conn.fetch(_VISIBLE_PLANS, nhs_number, today)


async def unscheduled_history(session: AsyncSession, nhs_number: str) -> Sequence[asyncpg.Record]:
    conn = await driver_connection(session)
    return await conn.fetch(_UNSCHEDULED_HISTORY, nhs_number)
