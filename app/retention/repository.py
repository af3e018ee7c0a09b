"""All SQL of retention. It deletes plans and alert bookkeeping; the audit trail is not here."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# One advisory lock key for every purge, wherever it runs ("cpis" "purg" as ASCII).
PURGE_LOCK = 0x6370697370757267

# Past retention mirrors the visibility rule (app/plans/visibility.py) with the
# dates alone: the day after the delete date, or without one the day after end
# date + 12 months; no end date, never. Withdrawal does not shorten retention: a
# withdrawn plan is kept (for history and for the authority's access-history
# rights) until its own dates say otherwise.
PAST_RETENTION = """CASE
    WHEN p.delete_date IS NOT NULL THEN p.delete_date < :today
    WHEN p.end_date IS NOT NULL THEN (p.end_date + interval '12 months')::date < :today
    ELSE false
  END"""

_DELETE_PLANS = text(
    f"""
    WITH gone AS (
      DELETE FROM plans p WHERE {PAST_RETENTION}
      RETURNING p.plan_type, p.withdrawn_at IS NOT NULL AS withdrawn
    )
    SELECT plan_type, withdrawn, count(*) AS n FROM gone GROUP BY plan_type, withdrawn
    """
)
# An alert only matters while its authority holds the child; afterwards the row is
# personal data with no purpose.
_DELETE_ORPHAN_ALERTS = text(
    """
    DELETE FROM attendance_alerts a WHERE NOT EXISTS (
      SELECT 1 FROM plans p
      WHERE p.nhs_number = a.nhs_number AND p.local_authority_code = a.local_authority_code)
    """
)


async def take_purge_lock(session: AsyncSession, *, wait: bool) -> bool:
    """Serialise purges across processes; held until the transaction ends."""
    if wait:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PURGE_LOCK})
        return True
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PURGE_LOCK})
    return bool(got)


async def delete_plans_past_retention(
    session: AsyncSession, today: date
) -> list[tuple[str, bool, int]]:
    """Delete them; (plan_type, withdrawn, count) for each group deleted."""
    result = await session.execute(_DELETE_PLANS, {"today": today})
    return [(row.plan_type, row.withdrawn, row.n) for row in result]


async def delete_alerts_of_children_no_longer_held(session: AsyncSession) -> int:
    result = await session.execute(_DELETE_ORPHAN_ALERTS)
    return int(getattr(result, "rowcount", 0) or 0)
