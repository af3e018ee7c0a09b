"""Engine and the one-transaction-per-request session.

The session dependency commits when the route function returns and *before* the
response is sent (``Depends(scope="function")``): a lookup's plans must never leave
the building unless its audit row has committed. Nothing else commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.db.urls import async_url


@dataclass(frozen=True)
class DatabaseURLs:
    """Where the owner (migrations) and the service (application role) connect."""

    owner: str
    service: str
    # Set when the service must assume cpis_app itself (an external DATABASE_URL
    # with no separate CPIS_APP_DATABASE_URL).
    service_role: str | None = None


def server_settings(settings: Settings, urls: DatabaseURLs) -> dict[str, str]:
    """Session settings of every service connection (the engine's and the lookup pool's)."""
    options = {
        "application_name": "cpis",
        "timezone": "UTC",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        # Never leave a transaction holding an audit chain lock behind a dead client.
        "idle_in_transaction_session_timeout": "30000",
        # A backend whose client died mid-statement (a killed server, a dropped upload)
        # notices within a second and rolls back, releasing its locks.
        "client_connection_check_interval": "1000",
    }
    if urls.service_role:
        options["role"] = urls.service_role
    return options


def create_engine(settings: Settings, urls: DatabaseURLs) -> AsyncEngine:
    return create_async_engine(
        async_url(urls.service),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args={"server_settings": server_settings(settings, urls), "timeout": 5},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed if the body returns, rolled back if it raises."""
    async with maker() as session, session.begin():
        yield session
