"""Migrations and models describe the same schema, and downgrade cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.session import DatabaseURLs
from app.db.urls import async_url
from app.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_the_migrated_schema(database: DatabaseURLs) -> None:
    engine = create_async_engine(async_url(database.owner))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    ignored = {"alembic_version"}
    assert [d for d in differences if not (d[0] == "remove_table" and d[1].name in ignored)] == []
