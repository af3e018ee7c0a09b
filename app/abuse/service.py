"""Refuse a lookup that would take a user or organisation over its harvest limit.

Counted in the database, from the lookups already in the audit trail, so every server
process sees the same numbers and nothing extra is written on the hot path. Repeats are
free: looking at a child already in the caller's window never counts again, so a desk
re-opening a record, or an automatic re-query, cannot trip the limit.

Concurrent lookups by one caller are not serialised, so a caller can overshoot a limit
by at most the number of lookups it has in flight at the moment it crosses it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from app.abuse import repository
from app.abuse.schemas import HarvestingSuspected, HarvestLimits, LimitKind, LookupCounts
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import HealthUser
from app.observability.metrics import HARVEST_REFUSALS


async def enforce(
    conn: asyncpg.Connection, user: HealthUser, counts: LookupCounts, limits: HarvestLimits
) -> None:
    """Raise ``HarvestingSuspected`` (429) if this lookup would cross a limit.

    ``counts`` come from repository.counts_sql, read by the lookup's first statement; the
    lookup calls this before it answers or records anything.
    """
    over: LimitKind | None = None
    if not counts.user_seen and counts.user_distinct >= limits.user:
        over, key = "user", user.sub
    elif not counts.org_seen and counts.org_distinct >= limits.organisation:
        over, key = "organisation", user.org_code
    if over is None:
        return
    wait = await repository.seconds_until_one_leaves(
        conn, limit=over, key=key, window_seconds=limits.window_seconds
    )
    HARVEST_REFUSALS.labels(over).inc()
    raise HarvestingSuspected(over, limits, retry_after=max(1, wait or limits.window_seconds))


def alert_event(
    error: HarvestingSuspected, actor: dict[str, Any], request_id: str | None
) -> NewAuditEvent:
    """The ``abuse-alert`` audit event for a refusal: visible to ``cpis:audit`` readers.

    The NHS number asked for is deliberately left out: nothing about that child was shown,
    and an event carrying it would read as an access to the child in history searches.
    """
    return NewAuditEvent(
        kind=AuditKind.ABUSE_ALERT,
        actor=actor,
        request_id=request_id,
        detail={
            "limit": error.limit,
            "allowed_distinct_nhs_numbers": error.allowed,
            "window_seconds": error.window_seconds,
            "retry_after_seconds": error.retry_after,
        },
    )
