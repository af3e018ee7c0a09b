"""All SQL of the directory and the superseded-number register."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

_COLUMNS = """code, name, authority_type, office_hours_phone, emergency_duty_phone,
              webhook_url, webhook_secret IS NOT NULL AS webhook_secret_set, updated_at"""

_LIST = text(
    f"SELECT {_COLUMNS} FROM local_authorities WHERE code > :after ORDER BY code LIMIT :limit"
)
_GET = text(f"SELECT {_COLUMNS}, webhook_secret FROM local_authorities WHERE code = :code")
_LOCK = text(
    f"SELECT {_COLUMNS}, webhook_secret FROM local_authorities WHERE code = :code FOR UPDATE"
)
_UPDATE = text(
    f"""
    UPDATE local_authorities
    SET name = :name, office_hours_phone = :office_hours_phone,
        emergency_duty_phone = :emergency_duty_phone, webhook_url = :webhook_url,
        webhook_secret = :webhook_secret, updated_at = now()
    WHERE code = :code
    RETURNING {_COLUMNS}
    """
)


async def list_authorities(session: AsyncSession, *, after: str, limit: int) -> Sequence[Row[Any]]:
    return (await session.execute(_LIST, {"after": after, "limit": limit})).all()


async def get_authority(
    session: AsyncSession, code: str, *, for_update: bool = False
) -> Row[Any] | None:
    return (await session.execute(_LOCK if for_update else _GET, {"code": code})).one_or_none()


async def update_authority(session: AsyncSession, code: str, fields: dict[str, Any]) -> Row[Any]:
    return (await session.execute(_UPDATE, {"code": code, **fields})).one()


# Re-marking with the same successor changes nothing (and notifies no one again).
_MARK = text(
    """
    INSERT INTO superseded_nhs_numbers (nhs_number, superseded_by, marked_by)
    VALUES (:nhs_number, :superseded_by, :marked_by)
    ON CONFLICT (nhs_number) DO UPDATE
      SET superseded_by = EXCLUDED.superseded_by, marked_by = EXCLUDED.marked_by,
          marked_at = now()
      WHERE superseded_nhs_numbers.superseded_by IS DISTINCT FROM EXCLUDED.superseded_by
    RETURNING marked_at
    """
)
_MARKED_AT = text("SELECT marked_at FROM superseded_nhs_numbers WHERE nhs_number = :nhs_number")


async def mark_superseded(
    session: AsyncSession, nhs_number: str, superseded_by: str | None, *, marked_by: str
) -> tuple[datetime, bool]:
    """Record the mark; returns when it was (last) made and whether this call changed it."""
    params = {"nhs_number": nhs_number, "superseded_by": superseded_by, "marked_by": marked_by}
    marked_at = (await session.execute(_MARK, params)).scalar_one_or_none()
    if marked_at is not None:
        return marked_at, True
    existing = (await session.execute(_MARKED_AT, {"nhs_number": nhs_number})).scalar_one()
    return existing, False
