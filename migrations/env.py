"""Alembic environment: migrations run as the owner over asyncpg."""

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.urls import async_url
from app.models import Base

target_metadata = Base.metadata


def _owner_url() -> str:
    url = context.config.attributes.get("url") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("no database: run `cpis migrate`, or set DATABASE_URL for plain alembic")
    return async_url(url)


MIGRATION_LOCK = 0x63706973  # "cpis": two processes migrating at once take turns


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_owner_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; hand-written SQL lives in versions/")
asyncio.run(_run_async())
