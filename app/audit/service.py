"""Recording and verifying the audit trail."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository
from app.audit.schemas import AppendedEvent, NewAuditEvent
from app.audit.verify import Progress, VerifyResult, Workers, verify_snapshot

__all__ = ["VerifyResult", "Workers", "record", "verify"]


async def record(session: AsyncSession, event: NewAuditEvent) -> AppendedEvent:
    """Append ``event`` in the caller's transaction; it commits or vanishes with it."""
    return await repository.append(session, event)


async def verify(
    session: AsyncSession,
    progress: Progress | None = None,
    *,
    serving: bool = False,
    workers: Workers | None = None,
) -> VerifyResult:
    """Recompute every chain from its first event; report the first break found.

    Must be the first work of ``session``'s transaction: it turns the transaction
    into a read-only REPEATABLE READ snapshot, so appends committed meanwhile are
    simply not seen (rather than looking like events past a chain's head). ``workers``:
    check a large trail in worker processes on the same snapshot (app/audit/verify.py).
    """
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return await verify_snapshot(driver, progress, serving=serving, workers=workers)
