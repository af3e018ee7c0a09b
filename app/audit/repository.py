"""All SQL of the audit trail. It can append and read; nothing else exists here."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
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
# within one chain seq order is the order in which appends commit. {when} is evaluated
# once, before any row is read: when it is false no head is locked.
FREE_HEAD = """
    head AS (
      SELECT chain, last_hash FROM audit_chain_heads WHERE {when}
      ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    """
FREE_HEAD_CTE = FREE_HEAD.format(when="true")
_LOCK_FREE_HEAD = f"""
    WITH {FREE_HEAD_CTE}
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
# The append itself, as CTEs a caller can put in front of its own statement
# ($1 seq … $13 hash, in EVENT_COLUMNS order): the lookup reads its history in the same
# round trip (app/lookup/repository.py).
APPEND_CTES = """
    event AS (
      INSERT INTO audit_events (seq, chain, kind, occurred_at, actor_id, actor,
        subject_nhs_number, unscheduled, care_setting, request_id, detail, prev_hash, hash)
      VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12, $13)
    ),
    moved AS (UPDATE audit_chain_heads SET last_seq = $1, last_hash = $13 WHERE chain = $2)
    """
APPEND = f"WITH {APPEND_CTES} SELECT"

EVENT_COLUMNS = (
    "seq, chain, kind, occurred_at, actor_id, actor, subject_nhs_number, unscheduled, "
    "care_setting, request_id, detail, prev_hash, hash"
)


@dataclass(frozen=True, slots=True)
class Head:
    """A locked chain head and the seq drawn under its lock."""

    chain: int
    last_hash: bytes | None
    seq: int


@dataclass(frozen=True, slots=True)
class Stamped:
    """An event with its place in a chain and its hash: ready to insert."""

    fields: dict[str, Any]
    prev_hash: bytes | None
    hash: bytes

    def args(self) -> list[Any]:
        """The append's parameters, $1 … $13."""
        fields = self.fields
        return [
            *(fields[name] for name in _FIELD_ORDER[:5]),
            orjson.dumps(fields["actor"]).decode(),
            *(fields[name] for name in _FIELD_ORDER[6:10]),
            orjson.dumps(fields["detail"]).decode(),
            self.prev_hash,
            self.hash,
        ]

    def appended(self) -> AppendedEvent:
        fields = self.fields
        return AppendedEvent(fields["seq"], fields["chain"], fields["occurred_at"], self.hash)


async def lock_head(conn: asyncpg.Connection) -> Head:
    """Lock a free chain head, or queue on one when every head is busy."""
    row = await conn.fetchrow(_LOCK_FREE_HEAD)
    if row is None:
        pick = random.randrange(1 << 30)  # noqa: S311 - spreading load, not security
        row = await conn.fetchrow(_LOCK_HEAD, pick)
    assert row is not None
    return Head(row["chain"], row["last_hash"], row["seq"])


def unplaced_fields(event: NewAuditEvent) -> dict[str, Any]:
    """The stored fields of ``event`` but seq and chain, which its append draws."""
    return {
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


def stamp(head: Head, event: NewAuditEvent) -> Stamped:
    """Place ``event`` on the locked ``head`` and hash it onto its chain."""
    fields = {"seq": head.seq, "chain": head.chain, **unplaced_fields(event)}
    return Stamped(fields, head.last_hash, event_hash(head.last_hash, fields))


async def append(session: AsyncSession, event: NewAuditEvent) -> AppendedEvent:
    """Append ``event`` to a free chain inside the caller's transaction."""
    conn = await driver_connection(session)
    stamped = stamp(await lock_head(conn), event)
    await conn.execute(APPEND, *stamped.args())
    return stamped.appended()


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
