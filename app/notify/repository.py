"""All SQL that writes notifications."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.raw import driver_connection

# Raw asyncpg on the session's connection and transaction: a lookup's access
# notifications are on its hot path (app/db/raw.py).
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
    ids = [uuid.uuid4() for _ in payloads]
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
