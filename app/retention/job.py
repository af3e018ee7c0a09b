"""The in-server retention job: a purge every ``CPIS_PURGE_INTERVAL_SECONDS`` (0: never)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import today_in_london
from app.db.session import transaction
from app.retention.service import SCHEDULED_ACTOR, purge

log = logging.getLogger("cpis.retention")


async def purge_periodically(maker: async_sessionmaker[AsyncSession], interval: float) -> None:
    """Sleep first (a starting server has better things to do), then purge, forever.

    The jitter spreads several server processes apart; if two meet anyway, the
    advisory lock lets one purge and the other skip.
    """
    while True:
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))  # noqa: S311 - not security
        try:
            async with transaction(maker) as session:
                result = await purge(
                    session, today=today_in_london(), actor=SCHEDULED_ACTOR, wait=False
                )
        except Exception as exc:  # keep the job alive; the next run retries
            log.error("scheduled purge failed", extra={"error": type(exc).__name__})
            continue
        if result.ran:
            log.info(
                "scheduled purge done",
                extra={
                    "plans_deleted": result.plans_deleted,
                    "alerts_deleted": result.alerts_deleted,
                },
            )


def start(maker: async_sessionmaker[AsyncSession], interval: float) -> asyncio.Task[None] | None:
    if interval <= 0:
        return None
    return asyncio.create_task(purge_periodically(maker, interval), name="cpis-retention")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
