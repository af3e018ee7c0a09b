"""All SQL that writes notifications."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_INSERT_MANY = text(
    """
    INSERT INTO notifications (id, local_authority_code, type, nhs_number, created_at, payload)
    SELECT n.id, n.code, :type, :nhs_number, now(), n.payload
    FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS text[]), CAST(:payloads AS jsonb[]))
      AS n(id, code, payload)
    """
)


async def insert_many(
    session: AsyncSession,
    *,
    type_: str,
    nhs_number: str | None,
    payloads: Sequence[tuple[str, dict[str, Any]]],
) -> list[uuid.UUID]:
    """One statement for all ``(authority code, payload)`` pairs; returns the new ids."""
    ids = [uuid.uuid4() for _ in payloads]
    await session.execute(
        _INSERT_MANY,
        {
            "type": type_,
            "nhs_number": nhs_number,
            "ids": ids,
            "codes": [code for code, _ in payloads],
            "payloads": [orjson.dumps(payload).decode() for _, payload in payloads],
        },
    )
    return ids
