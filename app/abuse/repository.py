"""All SQL of harvest detection: counts over the caller's recent lookups in audit_events."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.abuse.schemas import LookupCounts

# One round trip, two index range scans (ix_audit_events_lookups_by_actor / _by_org). The
# window ends at now() (transaction start), so every lookup that committed before ours counts.
_COUNTS = text(
    """
    SELECT u.n AS user_distinct, u.seen AS user_seen, o.n AS org_distinct, o.seen AS org_seen
    FROM (
      SELECT count(DISTINCT subject_nhs_number) AS n,
             coalesce(bool_or(subject_nhs_number = :nhs_number), false) AS seen
      FROM audit_events
      WHERE kind = 'lookup' AND actor_id = :sub
        AND occurred_at > now() - make_interval(secs => :window)
    ) u, (
      SELECT count(DISTINCT subject_nhs_number) AS n,
             coalesce(bool_or(subject_nhs_number = :nhs_number), false) AS seen
      FROM audit_events
      WHERE kind = 'lookup' AND (actor ->> 'org_code') = :org_code
        AND occurred_at > now() - make_interval(secs => :window)
    ) o
    """
)

# Only on the refusal path: when will the window hold one child fewer? Each child leaves it
# when its *latest* look does, so the earliest such moment is the answer.
_SECONDS_UNTIL_ONE_LEAVES = {
    "user": text(
        """
        SELECT ceil(extract(epoch FROM min(latest) + make_interval(secs => :window) - now()))
        FROM (SELECT max(occurred_at) AS latest FROM audit_events
              WHERE kind = 'lookup' AND actor_id = :key
                AND occurred_at > now() - make_interval(secs => :window)
              GROUP BY subject_nhs_number) s
        """
    ),
    "organisation": text(
        """
        SELECT ceil(extract(epoch FROM min(latest) + make_interval(secs => :window) - now()))
        FROM (SELECT max(occurred_at) AS latest FROM audit_events
              WHERE kind = 'lookup' AND (actor ->> 'org_code') = :key
                AND occurred_at > now() - make_interval(secs => :window)
              GROUP BY subject_nhs_number) s
        """
    ),
}


async def lookup_counts(
    session: AsyncSession, *, sub: str, org_code: str, nhs_number: str, window_seconds: int
) -> LookupCounts:
    row = (
        await session.execute(
            _COUNTS,
            {"sub": sub, "org_code": org_code, "nhs_number": nhs_number, "window": window_seconds},
        )
    ).one()
    return LookupCounts(row.user_distinct, row.user_seen, row.org_distinct, row.org_seen)


async def seconds_until_one_leaves(
    session: AsyncSession, *, limit: str, key: str, window_seconds: int
) -> int | None:
    value = await session.scalar(
        _SECONDS_UNTIL_ONE_LEAVES[limit], {"key": key, "window": window_seconds}
    )
    return None if value is None else int(value)
