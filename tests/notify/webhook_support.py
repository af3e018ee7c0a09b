"""Running the real app with webhook settings fit for tests, and arranging webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from app.config import Settings
from app.db.session import DatabaseURLs
from app.main import create_app

SECRET = "s3cret-for-tests-0123456789"


def fast(settings: Settings, **overrides: Any) -> Settings:
    """Short polls, timeouts and back-off so retries happen within a test."""
    values: dict[str, Any] = {
        "webhook_poll_seconds": 0.02,
        "webhook_timeout_seconds": 0.5,
        "webhook_retry_base_seconds": 0.05,
        "webhook_retry_cap_seconds": 0.2,
        **overrides,
    }
    return settings.model_copy(update=values)


@asynccontextmanager
async def running_app(
    settings: Settings, database: DatabaseURLs
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (and so its dispatcher) running, and a client for it."""
    app = create_app(settings, database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as client:
            yield client


async def set_webhook(db: asyncpg.Connection, code: str, url: str, secret: str = SECRET) -> None:
    await db.execute(
        "UPDATE local_authorities SET webhook_url = $2, webhook_secret = $3 WHERE code = $1",
        code,
        url,
        secret,
    )


async def delivery_states(db: asyncpg.Connection, code: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT notification_id, state, attempts, last_error, next_attempt_at"
        " FROM webhook_deliveries WHERE local_authority_code = $1 ORDER BY notification_seq",
        code,
    )
