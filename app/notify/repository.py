"""All SQL that writes notifications."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.raw import driver_connection
from app.notify.ids import notification_id

# Every authority's notification in one statement. (A lookup's access notifications are
# written by the lookup's own statement, app/lookup/repository.py.)
_INSERT_MANY = """
    INSERT INTO notifications (id, local_authority_code, type, nhs_number, created_at, payload)
    SELECT n.id, n.code, $1, $2, now(), n.payload
    FROM unnest($3::uuid[], $4::text[], $5::jsonb[]) AS n(id, code, payload)
    """


async def insert_many(
    session: AsyncSession,
    *,
    type_: str,
    nhs_number: str | None,
    payloads: Sequence[tuple[str, dict[str, Any]]],
) -> list[uuid.UUID]:
    """One statement for all ``(authority code, payload)`` pairs; returns the new ids."""
    ids = [notification_id() for _ in payloads]
    conn = await driver_connection(session)
    await conn.execute(
        _INSERT_MANY,
        type_,
        nhs_number,
        ids,
        [code for code, _ in payloads],
        [orjson.dumps(payload).decode() for _, payload in payloads],
    )
    return ids


# The feed (see app/notify/feed.py for why it orders by transaction id): only rows
# whose inserting transaction is older than every transaction still running are
# served, so a row can never appear later *behind* a cursor already handed out.
_FEED = text(
    """
    SELECT n.id, n.seq, n.xact_id, n.type, n.created_at, n.nhs_number, n.payload
    FROM notifications n
    WHERE n.local_authority_code = :code
      AND n.xact_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
      AND (n.xact_id, n.seq) > (:after_xact, :after_seq)
    ORDER BY n.xact_id, n.seq
    LIMIT :limit
    """
)


async def feed_page(
    session: AsyncSession, code: str, *, after: tuple[int, int], limit: int
) -> Sequence[Row[Any]]:
    """Up to ``limit`` finished notifications of ``code`` after the keyset ``after``."""
    result = await session.execute(
        _FEED, {"code": code, "after_xact": after[0], "after_seq": after[1], "limit": limit}
    )
    return result.all()


_PLAN_HOLDERS = text(
    """
    SELECT p.local_authority_code AS code, array_agg(DISTINCT p.plan_type) AS plan_types
    FROM plans p WHERE p.nhs_number = :nhs_number
    GROUP BY p.local_authority_code ORDER BY p.local_authority_code
    """
)


async def plan_holders(session: AsyncSession, nhs_number: str) -> Sequence[Row[Any]]:
    """Every authority with any plan row for ``nhs_number``, visible or not."""
    return (await session.execute(_PLAN_HOLDERS, {"nhs_number": nhs_number})).all()


# Claim due deliveries for the dispatcher: row-locked with SKIP LOCKED so several
# server processes never take the same one, at most one per authority per claim
# (and none for ``busy`` authorities, which this process is already posting to),
# oldest due first. The claim pushes next_attempt_at out by ``lease`` seconds:
# a process that dies mid-attempt leaves the row to be retried after the lease.
_CLAIM = text(
    """
    WITH candidates AS (
      SELECT d.notification_id, d.local_authority_code, d.next_attempt_at, d.notification_seq
      FROM webhook_deliveries d
      JOIN local_authorities la ON la.code = d.local_authority_code
      WHERE d.state <> 'delivered' AND d.next_attempt_at <= now()
        AND d.local_authority_code <> ALL(CAST(:busy AS text[]))
        AND la.webhook_url IS NOT NULL AND la.webhook_secret IS NOT NULL
      ORDER BY d.next_attempt_at
      LIMIT :scan
      FOR UPDATE OF d SKIP LOCKED
    ), picked AS (
      SELECT o.notification_id FROM (
        SELECT DISTINCT ON (c.local_authority_code) c.notification_id, c.next_attempt_at
        FROM candidates c
        ORDER BY c.local_authority_code, c.next_attempt_at, c.notification_seq
      ) o
      ORDER BY o.next_attempt_at
      LIMIT :limit
    )
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, last_attempt_at = now(),
        next_attempt_at = now() + make_interval(secs => :lease)
    FROM picked p, notifications n, local_authorities la
    WHERE d.notification_id = p.notification_id AND n.id = d.notification_id
      AND la.code = d.local_authority_code
    RETURNING d.notification_id, d.local_authority_code, d.attempts,
              la.webhook_url, la.webhook_secret,
              n.id, n.seq, n.xact_id, n.type, n.created_at, n.nhs_number, n.payload
    """
)


async def claim_deliveries(
    session: AsyncSession, *, limit: int, busy: Sequence[str], lease_seconds: float
) -> Sequence[Row[Any]]:
    result = await session.execute(
        _CLAIM,
        {"busy": list(busy), "scan": limit * 20, "limit": limit, "lease": lease_seconds},
    )
    return result.all()


_DELIVERED = text(
    """
    UPDATE webhook_deliveries
    SET state = 'delivered', delivered_at = now(), next_attempt_at = NULL, last_error = NULL
    WHERE notification_id = :id
    """
)

# Never downgrade a delivery another process has completed meanwhile.
_FAILED = text(
    """
    UPDATE webhook_deliveries
    SET state = 'failing', last_error = :error,
        next_attempt_at = now() + make_interval(secs => :delay)
    WHERE notification_id = :id AND state <> 'delivered'
    """
)

_RELEASED = text(
    """
    UPDATE webhook_deliveries SET next_attempt_at = now()
    WHERE notification_id = ANY(CAST(:ids AS uuid[])) AND state <> 'delivered'
    """
)


async def mark_delivered(session: AsyncSession, notification_id: uuid.UUID) -> None:
    await session.execute(_DELIVERED, {"id": notification_id})


async def mark_failed(
    session: AsyncSession, notification_id: uuid.UUID, *, error: str, retry_in: float
) -> None:
    await session.execute(_FAILED, {"id": notification_id, "error": error, "delay": retry_in})


async def release_claims(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    """Make abandoned claims due now, so the next dispatcher need not wait out the lease."""
    await session.execute(_RELEASED, {"ids": list(ids)})


_BACKLOG = text("SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'")


async def delivery_backlog(session: AsyncSession) -> int:
    return int((await session.execute(_BACKLOG)).scalar_one())


_DELIVERIES = text(
    """
    SELECT d.notification_id, d.notification_seq, n.type, n.created_at, d.state, d.attempts,
           d.last_attempt_at, d.last_error, d.next_attempt_at, d.delivered_at
    FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
    WHERE d.local_authority_code = :code
      AND (CAST(:state AS text) IS NULL OR d.state = CAST(:state AS text))
      AND d.notification_seq < :before
    ORDER BY d.notification_seq DESC
    LIMIT :limit
    """
)


async def deliveries(
    session: AsyncSession, code: str, *, state: str | None, before: int, limit: int
) -> Sequence[Row[Any]]:
    """Delivery rows of one authority, newest notification first, below ``before``."""
    params = {"code": code, "state": state, "before": before, "limit": limit}
    return (await session.execute(_DELIVERIES, params)).all()
