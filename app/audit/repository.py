"""All SQL of the audit trail. It can append and read; nothing else exists here."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import event_hash
from app.audit.schemas import AppendedEvent, NewAuditEvent
from app.db.raw import driver_connection

# Appends run on every lookup, so they go straight to asyncpg on the session's own
# connection and transaction (app/db/raw.py explains why and how).
#
# Lock any chain head nobody else holds; nextval runs after the lock is taken, so
# within one chain seq order is the order in which appends commit.
_LOCK_FREE_HEAD = """
    WITH head AS (
      SELECT chain, last_hash FROM audit_chain_heads
      ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    SELECT chain, last_hash, nextval('audit_events_seq') AS seq FROM head
    """
# Every head is busy (more concurrent appends than chains): queue on one of them.
_LOCK_HEAD = """
    WITH head AS (
      SELECT chain, last_hash FROM audit_chain_heads
      WHERE chain = (SELECT min(chain) + $1 % count(*) FROM audit_chain_heads)
      FOR UPDATE
    )
    SELECT chain, last_hash, nextval('audit_events_seq') AS seq FROM head
    """
_INSERT = """
    WITH event AS (
      INSERT INTO audit_events (seq, chain, kind, occurred_at, actor_id, actor,
        subject_nhs_number, unscheduled, care_setting, request_id, detail, prev_hash, hash)
      VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12, $13)
    )
    UPDATE audit_chain_heads SET last_seq = $1, last_hash = $13 WHERE chain = $2
    """

EVENT_COLUMNS = (
    "seq, chain, kind, occurred_at, actor_id, actor, subject_nhs_number, unscheduled, "
    "care_setting, request_id, detail, prev_hash, hash"
)


async def append(session: AsyncSession, event: NewAuditEvent) -> AppendedEvent:
    """Append ``event`` to a free chain inside the caller's transaction."""
    conn = await driver_connection(session)
    head = await conn.fetchrow(_LOCK_FREE_HEAD)
    if head is None:
        pick = random.randrange(1 << 30)  # noqa: S311 - spreading load, not security
        head = await conn.fetchrow(_LOCK_HEAD, pick)
    assert head is not None
    fields: dict[str, Any] = {
        "seq": head["seq"],
        "chain": head["chain"],
        "kind": event.kind.value,
        "occurred_at": event.occurred_at or datetime.now(UTC),
        "actor_id": event.actor_id,
        "actor": event.actor,
        "subject_nhs_number": event.subject_nhs_number,
        "unscheduled": event.unscheduled,
        "care_setting": event.care_setting,
        "request_id": event.request_id,
        "detail": event.detail,
    }
    digest = event_hash(head["last_hash"], fields)
    await conn.execute(
        _INSERT,
        *(fields[name] for name in _FIELD_ORDER[:5]),
        orjson.dumps(event.actor).decode(),
        *(fields[name] for name in _FIELD_ORDER[6:10]),
        orjson.dumps(event.detail).decode(),
        head["last_hash"],
        digest,
    )
    return AppendedEvent(head["seq"], head["chain"], fields["occurred_at"], digest)


_FIELD_ORDER = (
    "seq", "chain", "kind", "occurred_at", "actor_id", "actor",
    "subject_nhs_number", "unscheduled", "care_setting", "request_id", "detail",
)  # fmt: skip


async def events_page(
    session: AsyncSession, *, after: int, limit: int, kind: str | None
) -> Sequence[Row[Any]]:
    """Up to ``limit`` events with seq above ``after``, oldest first (primary key or kind index)."""
    where = "seq > :after AND kind = :kind" if kind else "seq > :after"
    query = text(
        f"SELECT {EVENT_COLUMNS} FROM audit_events WHERE {where} ORDER BY seq LIMIT :n"
    ).columns(actor=JSONB, detail=JSONB)
    result = await session.execute(query, {"after": after, "kind": kind, "n": limit})
    return result.all()
