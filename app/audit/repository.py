"""All SQL of the audit trail. It can append and read; nothing else exists here."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import event_hash
from app.audit.schemas import AppendedEvent, NewAuditEvent

# Lock any chain head nobody else holds; nextval runs after the lock is taken, so
# within one chain seq order is the order in which appends commit.
_LOCK_FREE_HEAD = text(
    """
    WITH head AS (
      SELECT chain, last_hash FROM audit_chain_heads
      ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    SELECT chain, last_hash, nextval('audit_events_seq') AS seq FROM head
    """
)
# Every head is busy (more concurrent appends than chains): queue on one of them.
_LOCK_HEAD = text(
    """
    WITH head AS (
      SELECT chain, last_hash FROM audit_chain_heads
      WHERE chain = (SELECT min(chain) + :pick % count(*) FROM audit_chain_heads)
      FOR UPDATE
    )
    SELECT chain, last_hash, nextval('audit_events_seq') AS seq FROM head
    """
)
_INSERT = text(
    """
    WITH event AS (
      INSERT INTO audit_events (seq, chain, kind, occurred_at, actor_id, actor,
        subject_nhs_number, unscheduled, care_setting, request_id, detail, prev_hash, hash)
      VALUES (:seq, :chain, :kind, :occurred_at, :actor_id, CAST(:actor AS jsonb),
        :subject_nhs_number, :unscheduled, :care_setting, :request_id, CAST(:detail AS jsonb),
        :prev_hash, :hash)
    )
    UPDATE audit_chain_heads SET last_seq = :seq, last_hash = :hash WHERE chain = :chain
    """
)

EVENT_COLUMNS = (
    "seq, chain, kind, occurred_at, actor_id, actor, subject_nhs_number, unscheduled, "
    "care_setting, request_id, detail, prev_hash, hash"
)


async def append(session: AsyncSession, event: NewAuditEvent) -> AppendedEvent:
    """Append ``event`` to a free chain inside the caller's transaction."""
    head = (await session.execute(_LOCK_FREE_HEAD)).one_or_none()
    if head is None:
        pick = random.randrange(1 << 30)  # noqa: S311 - spreading load, not security
        head = (await session.execute(_LOCK_HEAD, {"pick": pick})).one()
    fields: dict[str, Any] = {
        "seq": head.seq,
        "chain": head.chain,
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
    digest = event_hash(head.last_hash, fields)
    params = {
        **fields,
        "actor": orjson.dumps(event.actor).decode(),
        "detail": orjson.dumps(event.detail).decode(),
        "prev_hash": head.last_hash,
        "hash": digest,
    }
    await session.execute(_INSERT, params)
    return AppendedEvent(head.seq, head.chain, fields["occurred_at"], digest)


async def chain_heads(session: AsyncSession) -> Sequence[Row[Any]]:
    result = await session.execute(
        text("SELECT chain, last_seq, last_hash FROM audit_chain_heads ORDER BY chain")
    )
    return result.all()


async def events_in_seq_order(
    session: AsyncSession, *, batch: int = 10_000
) -> AsyncIterator[Sequence[Row[Any]]]:
    """Every event, oldest first, in keyset-paginated batches (bounded memory)."""
    after = -1
    query = text(
        f"SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > :after ORDER BY seq LIMIT :n"
    ).columns(actor=JSONB, detail=JSONB)
    while True:
        rows = (await session.execute(query, {"after": after, "n": batch})).all()
        if not rows:
            return
        yield rows
        after = rows[-1].seq


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
