"""All SQL of the access history.

Fixed statements on the session's asyncpg connection, in its transaction (app/db/raw.py):
a search is a page of up to 1,000 rows read on every call, and SQLAlchemy's statement
execution and row wrapping were the larger part of its time (``make bench``, H1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.raw import driver_connection

# "Held" is any plan row still stored: retention (app/retention) deletes plans once
# past their visibility, so a row that exists is within retention, withdrawn or not.
_HOLDS_A_PLAN = (
    "SELECT EXISTS (SELECT 1 FROM plans WHERE nhs_number = $1 AND local_authority_code = $2)"
)

_COLUMNS = """
    seq, occurred_at AS accessed_at, actor_id AS user_id, actor->>'name' AS user_name,
    actor->>'role_name' AS role_name, actor->>'org_code' AS org_code,
    actor->>'org_name' AS org_name, care_setting, coalesce(unscheduled, false) AS unscheduled,
    request_id
"""


def page_query(*, before: bool, since: bool, until: bool) -> str:
    """$1 the NHS number, $2 how many rows; then, numbered on in this order, those of the
    cursor's seq, since and until that are given."""
    # Constant fragments only, so each shape keeps its own plan on the child's index of
    # looks (subject_nhs_number, occurred_at, seq): a range scan backwards from the cursor,
    # no OFFSET and no sort. The cursor is the last row's seq; its time is read back by key.
    conditions = ["subject_nhs_number = $1", "kind = 'lookup'"]
    optional = (
        ("(occurred_at, seq) < ((SELECT occurred_at FROM audit_events WHERE seq = {p}), {p})",
         before),
        ("occurred_at >= {p}", since),
        ("occurred_at < {p}", until),
    )  # fmt: skip
    given = [condition for condition, on in optional if on]
    conditions += [c.format(p=f"${n}") for n, c in enumerate(given, start=3)]
    return (
        f"SELECT {_COLUMNS} FROM audit_events WHERE {' AND '.join(conditions)}"
        " ORDER BY occurred_at DESC, seq DESC LIMIT $2"
    )


async def holds_a_plan(session: AsyncSession, code: str, nhs_number: str) -> bool:
    conn = await driver_connection(session)
    return bool(await conn.fetchval(_HOLDS_A_PLAN, nhs_number, code))


async def accesses(
    session: AsyncSession,
    nhs_number: str,
    *,
    before: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[asyncpg.Record]:
    """Up to ``limit`` lookups of ``nhs_number`` after the one numbered ``before`` (if
    given) in newest-first order."""
    query = page_query(before=before is not None, since=since is not None, until=until is not None)
    given = [value for value in (before, since, until) if value is not None]
    conn = await driver_connection(session)
    return await conn.fetch(query, nhs_number, limit, *given)
