"""All SQL of the access history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

# "Held" is any plan row still stored: retention (app/retention) deletes plans once
# past their visibility, so a row that exists is within retention, withdrawn or not.
_HOLDS_A_PLAN = text(
    "SELECT EXISTS (SELECT 1 FROM plans WHERE nhs_number = :nhs_number"
    " AND local_authority_code = :code)"
)

_COLUMNS = """
    seq, occurred_at AS accessed_at, actor_id AS user_id, actor->>'name' AS user_name,
    actor->>'role_name' AS role_name, actor->>'org_code' AS org_code,
    actor->>'org_name' AS org_name, care_setting, coalesce(unscheduled, false) AS unscheduled,
    request_id
"""


def _page_query(*, before: bool, since: bool, until: bool) -> str:
    # Constant fragments only, so each shape keeps its own plan on the
    # (subject_nhs_number, seq) index: a range scan backwards from the cursor, no OFFSET.
    conditions = ["subject_nhs_number = :nhs_number", "kind = 'lookup'"]
    if before:
        conditions.append("seq < :before")
    if since:
        conditions.append("occurred_at >= :since")
    if until:
        conditions.append("occurred_at < :until")
    return (
        f"SELECT {_COLUMNS} FROM audit_events WHERE {' AND '.join(conditions)}"
        " ORDER BY seq DESC LIMIT :n"
    )


async def holds_a_plan(session: AsyncSession, code: str, nhs_number: str) -> bool:
    result = await session.scalar(_HOLDS_A_PLAN, {"nhs_number": nhs_number, "code": code})
    return bool(result)


async def accesses(
    session: AsyncSession,
    nhs_number: str,
    *,
    before: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """Up to ``limit`` lookups of ``nhs_number`` with seq below ``before``, newest first."""
    query = _page_query(before=before is not None, since=since is not None, until=until is not None)
    params = {
        "nhs_number": nhs_number,
        "before": before,
        "since": since,
        "until": until,
        "n": limit,
    }
    result = await session.execute(text(query), params)
    return result.all()
