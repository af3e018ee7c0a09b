"""All SQL of attendance-pattern alerts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.raw import driver_connection
from app.patterns.rules import Attendance

# Enough for any configured threshold (at most 1000) after de-duplication.
MAX_LOOKS = 5000
# Two-int advisory lock space: ("patt", hash of the NHS number); other locks use bigint keys
# whose high half differs, so they cannot collide.
_LOCK_CLASS = 0x70617474

# The check runs on every unscheduled look at a flagged child, so these three statements
# go straight to asyncpg on the session's connection and transaction (app/db/raw.py).
_LOCK_CHILD = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
# The lookup history's partial index (subject_nhs_number, occurred_at) serves this.
_LOOKS = f"""
    SELECT seq, occurred_at AS accessed_at, actor->>'name' AS user_name,
           actor->>'role_name' AS role_name, actor->>'org_code' AS org_code,
           actor->>'org_name' AS org_name, care_setting
    FROM audit_events
    WHERE subject_nhs_number = $1 AND kind = 'lookup' AND unscheduled
      AND occurred_at > $2
    ORDER BY occurred_at DESC, seq DESC
    LIMIT {MAX_LOOKS}
    """
_ALERTED_THROUGH = """
    SELECT local_authority_code, rule, max(last_attended_at) AS through
    FROM attendance_alerts WHERE nhs_number = $1
    GROUP BY local_authority_code, rule
    """
# The lock makes a conflict impossible; DO NOTHING only guarantees that bookkeeping
# can never be the reason a lookup fails.
_RECORD = text(
    """
    INSERT INTO attendance_alerts (nhs_number, local_authority_code, rule, window_days,
      first_attended_at, last_attended_at, attendances, notification_id)
    SELECT :nhs_number, a.code, a.rule, a.days, a.first_at, a.last_at, a.n, a.notification_id
    FROM unnest(CAST(:codes AS text[]), CAST(:rules AS text[]), CAST(:days AS int[]),
      CAST(:firsts AS timestamptz[]), CAST(:lasts AS timestamptz[]), CAST(:ns AS int[]),
      CAST(:ids AS uuid[])) AS a(code, rule, days, first_at, last_at, n, notification_id)
    ON CONFLICT DO NOTHING
    """
)


async def lock_child(session: AsyncSession, nhs_number: str) -> None:
    """Serialise pattern checks of one child until commit, so concurrent lookups
    see each other's attendances and alerts and cannot both fire."""
    conn = await driver_connection(session)
    await conn.execute(_LOCK_CHILD, _LOCK_CLASS, nhs_number)


async def unscheduled_looks(
    session: AsyncSession, nhs_number: str, since: datetime
) -> list[Attendance]:
    """Unscheduled looks after ``since``, oldest first (the newest MAX_LOOKS)."""
    conn = await driver_connection(session)
    rows = await conn.fetch(_LOOKS, nhs_number, since)
    return [Attendance(**dict(row.items())) for row in reversed(rows)]


async def alerted_through(
    session: AsyncSession, nhs_number: str
) -> dict[tuple[str, str], datetime]:
    """(authority, rule) → newest attendance already behind an alert."""
    conn = await driver_connection(session)
    rows = await conn.fetch(_ALERTED_THROUGH, nhs_number)
    return {(row["local_authority_code"], row["rule"]): row["through"] for row in rows}


async def record_alerts(
    session: AsyncSession,
    nhs_number: str,
    alerts: Sequence[tuple[str, str, int, Sequence[Attendance], uuid.UUID]],
) -> None:
    """Remember (authority, rule, window_days, attendances, notification id) alerts."""
    await session.execute(
        _RECORD,
        {
            "nhs_number": nhs_number,
            "codes": [a[0] for a in alerts],
            "rules": [a[1] for a in alerts],
            "days": [a[2] for a in alerts],
            "firsts": [a[3][0].accessed_at for a in alerts],
            "lasts": [a[3][-1].accessed_at for a in alerts],
            "ns": [len(a[3]) for a in alerts],
            "ids": [a[4] for a in alerts],
        },
    )
