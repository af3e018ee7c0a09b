"""All SQL of uploads: the per-authority lock, staging, the set-based merge, the record.

Staged records go through asyncpg's COPY (measured: far faster than any INSERT);
everything after that is a handful of set-based statements whose cost does not
depend on round trips.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

import orjson
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.plans.visibility import visible_sql

# pg_advisory_xact_lock(space, key): uploads of one authority take turns; the key is
# the GSS code's eight digits, so different authorities never wait for each other.
UPLOAD_LOCK_SPACE = 0x75706C64  # "upld"
STAGING = "upload_staging"
STAGED_COLUMNS = (
    "record_no",
    "nhs_number",
    "plan_type",
    "start_date",
    "end_date",
    "delete_date",
    "local_id",
    "state",
)

_CREATE_STAGING = text(
    f"""
    CREATE TEMP TABLE {STAGING} (
      record_no integer NOT NULL, nhs_number text NOT NULL, plan_type text,
      start_date date, end_date date, delete_date date, local_id text, state text NOT NULL
    ) ON COMMIT DROP
    """
)

# Lists the first :n hits in row order and counts them all, in one round trip.
_LISTED = """
    SELECT (SELECT count(*) FROM hit) AS total,
      (SELECT coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.record_no), '[]'::jsonb)
       FROM (SELECT * FROM hit ORDER BY record_no LIMIT :n) h) AS listed
"""
_MARK_SUPERSEDED = text(
    f"""
    WITH hit AS (
      UPDATE {STAGING} s SET state = 'superseded' FROM superseded_nhs_numbers x
      WHERE s.state = 'ok' AND x.nhs_number = s.nhs_number
      RETURNING s.record_no, s.nhs_number, x.superseded_by IS NOT NULL AS replaced
    ) {_LISTED}
    """
).columns(listed=JSONB)
# The same plan twice in one file: the first copy stands, later ones are rejected.
_MARK_DUPLICATES = text(
    f"""
    WITH ranked AS (
      SELECT record_no, first_value(record_no) OVER (
        PARTITION BY nhs_number, plan_type, start_date ORDER BY record_no) AS first_no
      FROM {STAGING} WHERE state = 'ok'
    ), hit AS (
      UPDATE {STAGING} s SET state = 'duplicate' FROM ranked r
      WHERE s.record_no = r.record_no AND r.record_no <> r.first_no
      RETURNING s.record_no, s.nhs_number, r.first_no
    ) {_LISTED}
    """
).columns(listed=JSONB)

# A visible plan of this authority that the file does not hold. Plans of a child
# named in a rejected row are kept: a typo must not remove a child's flag.
_MISSING_FROM_FILE = f"""
    p.local_authority_code = :code AND {visible_sql("p")}
    AND NOT EXISTS (
      SELECT 1 FROM {STAGING} s WHERE s.nhs_number = p.nhs_number
        AND (s.state IN ('invalid', 'superseded')
             OR (s.state = 'ok' AND s.plan_type = p.plan_type AND s.start_date = p.start_date)))
"""
_COUNT_WITHDRAWALS = text(
    f"""
    SELECT (SELECT count(*) FROM plans p
            WHERE p.local_authority_code = :code AND {visible_sql("p")}) AS visible,
           (SELECT count(*) FROM plans p WHERE {_MISSING_FROM_FILE}) AS missing
    """
)
_WITHDRAW = text(
    f"""
    WITH gone AS (
      UPDATE plans p SET withdrawn_at = now(), updated_at = now()
      WHERE {_MISSING_FROM_FILE} RETURNING 1
    ) SELECT count(*) FROM gone
    """
)
# Sending a plan again updates it, and brings a withdrawn plan back. Two statements
# rather than INSERT ... ON CONFLICT DO UPDATE (measured on 200,000 rows, see
# merge_staged): an upsert locks, and so rewrites and WAL-logs, every conflicting row
# even when nothing changed, and pays a speculative insertion for every new one.
# Nothing else writes an authority's plans while its upload holds the lock, so the
# update-then-insert split sees the same rows an upsert would.
_UPDATE_CHANGED = text(
    f"""
    UPDATE plans p SET end_date = s.end_date, delete_date = s.delete_date,
      local_id = s.local_id, withdrawn_at = NULL, updated_at = now()
    FROM {STAGING} s
    WHERE s.state = 'ok' AND p.local_authority_code = :code AND p.nhs_number = s.nhs_number
      AND p.plan_type = s.plan_type AND p.start_date = s.start_date
      AND (p.end_date, p.delete_date, p.local_id, p.withdrawn_at)
        IS DISTINCT FROM (s.end_date, s.delete_date, s.local_id, NULL)
    """
)
# In the unique index's order: consecutive rows land on the same index pages.
_INSERT_NEW = text(
    f"""
    INSERT INTO plans (local_authority_code, nhs_number, plan_type, start_date,
      end_date, delete_date, local_id)
    SELECT CAST(:code AS varchar), s.nhs_number, s.plan_type, s.start_date, s.end_date,
      s.delete_date, s.local_id
    FROM {STAGING} s
    WHERE s.state = 'ok' AND NOT EXISTS (
      SELECT 1 FROM plans p WHERE p.local_authority_code = :code
        AND p.nhs_number = s.nhs_number AND p.plan_type = s.plan_type
        AND p.start_date = s.start_date)
    ORDER BY s.nhs_number, s.plan_type, s.start_date
    """
)


@dataclass(frozen=True)
class Marked:
    total: int
    listed: list[dict[str, Any]]


async def authority_exists(session: AsyncSession, code: str) -> bool:
    found = await session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM local_authorities WHERE code = :code)"), {"code": code}
    )
    return bool(found)


async def begin_upload(session: AsyncSession, code: str, *, statement_timeout_ms: int) -> None:
    """Wait for this authority's earlier upload to finish; allow the merge its time."""
    await session.execute(text(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}"))
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:space, :key)"),
        {"space": UPLOAD_LOCK_SPACE, "key": int(code[1:])},
    )


async def find_by_sequence(session: AsyncSession, code: str, sequence: int) -> Row[Any] | None:
    result = await session.execute(
        text(
            "SELECT content_sha256, acknowledgement FROM uploads"
            " WHERE local_authority_code = :code AND sequence = :sequence"
        ).columns(acknowledgement=JSONB),
        {"code": code, "sequence": sequence},
    )
    return result.one_or_none()


async def highest_sequence(session: AsyncSession, code: str) -> int | None:
    found = await session.scalar(
        text("SELECT max(sequence) FROM uploads WHERE local_authority_code = :code"),
        {"code": code},
    )
    return None if found is None else int(found)


async def stage(session: AsyncSession, spool: IO[bytes]) -> None:
    """COPY the spooled records into a temporary table dropped at commit."""
    await session.execute(_CREATE_STAGING)
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.copy_to_table(STAGING, source=spool, columns=STAGED_COLUMNS, format="csv")
    await session.execute(text(f"ANALYZE {STAGING}"))


async def _mark(session: AsyncSession, statement: Any, listed: int) -> Marked:
    row = (await session.execute(statement, {"n": listed})).one()
    return Marked(int(row.total), list(row.listed))


async def mark_superseded(session: AsyncSession, *, listed: int) -> Marked:
    return await _mark(session, _MARK_SUPERSEDED, listed)


async def mark_duplicates(session: AsyncSession, *, listed: int) -> Marked:
    return await _mark(session, _MARK_DUPLICATES, listed)


async def count_withdrawals(session: AsyncSession, code: str, today: date) -> tuple[int, int]:
    """(visible plans of the authority, how many of them the staged file leaves out)."""
    row = (await session.execute(_COUNT_WITHDRAWALS, {"code": code, "today": today})).one()
    return int(row.visible), int(row.missing)


async def merge_staged(session: AsyncSession, code: str) -> None:
    """Update the plans the file changed, then insert the new ones.

    200,000 staged rows (make bench's file), against an upsert: a new authority's
    file 6.0-6.9 s instead of 8.8-11.6 s; the same file again, unchanged, 0.9-1.0 s
    and no WAL instead of 2.5-3.6 s and 34 MB.
    """
    await session.execute(_UPDATE_CHANGED, {"code": code})
    await session.execute(_INSERT_NEW, {"code": code})


async def withdraw_missing_plans(session: AsyncSession, code: str, today: date) -> int:
    return int(await session.scalar(_WITHDRAW, {"code": code, "today": today}) or 0)


async def insert_upload(
    session: AsyncSession,
    *,
    upload_id: uuid.UUID,
    code: str,
    sequence: int,
    mode: str,
    sha256: bytes,
    acknowledgement: dict[str, Any],
) -> None:
    await session.execute(
        text(
            "INSERT INTO uploads (id, local_authority_code, sequence, mode, content_sha256,"
            " acknowledgement) VALUES (:id, :code, :sequence, :mode, :sha256,"
            " CAST(:ack AS jsonb))"
        ),
        {
            "id": upload_id,
            "code": code,
            "sequence": sequence,
            "mode": mode,
            "sha256": sha256,
            "ack": orjson.dumps(acknowledgement).decode(),
        },
    )


async def get_upload(session: AsyncSession, code: str, upload_id: uuid.UUID) -> Any:
    """The stored acknowledgement, only when the upload is this authority's."""
    return await session.scalar(
        text(
            "SELECT acknowledgement FROM uploads WHERE id = :id AND local_authority_code = :code"
        ).columns(acknowledgement=JSONB),
        {"id": upload_id, "code": code},
    )


async def list_uploads(
    session: AsyncSession, code: str, *, before_sequence: int | None, limit: int
) -> Sequence[Row[Any]]:
    """Newest first: accepted sequences only ever grow, so sequence order is arrival order."""
    result = await session.execute(
        text(
            "SELECT sequence, acknowledgement - 'rejections' AS summary, created_at FROM uploads"
            " WHERE local_authority_code = :code"
            " AND (CAST(:before AS bigint) IS NULL OR sequence < CAST(:before AS bigint))"
            " ORDER BY sequence DESC LIMIT :limit"
        ).columns(summary=JSONB),
        {"code": code, "before": before_sequence, "limit": limit},
    )
    return result.all()
