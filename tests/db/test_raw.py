"""Raw asyncpg statements run inside the session's transaction, never beside it."""

from __future__ import annotations

import asyncpg
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.db.raw import driver_connection
from app.db.session import DatabaseURLs
from app.db.urls import async_url
from tests.support import CAMDEN, CHILD_A

_INSERT = "INSERT INTO notifications (id, local_authority_code, type, nhs_number, payload)"
_INSERT += " VALUES (gen_random_uuid(), $1, 'access', $2, '{}'::jsonb)"


async def _count(owner_db: asyncpg.Connection) -> int:
    return int(await owner_db.fetchval("SELECT count(*) FROM notifications"))


async def test_a_raw_statement_as_the_first_of_a_transaction_rolls_back_with_it(
    database: DatabaseURLs, owner_db: asyncpg.Connection
) -> None:
    engine = create_async_engine(async_url(database.service))
    try:
        async with async_sessionmaker(engine)() as session:
            await session.begin()
            conn = await driver_connection(session)
            assert conn.is_in_transaction()
            await conn.execute(_INSERT, CAMDEN, CHILD_A)
            await session.rollback()  # the request failed after the statement
        assert await _count(owner_db) == 0
    finally:
        await engine.dispose()


async def test_a_raw_statement_commits_with_the_session(
    database: DatabaseURLs, owner_db: asyncpg.Connection
) -> None:
    engine = create_async_engine(async_url(database.service))
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            await (await driver_connection(session)).execute(_INSERT, CAMDEN, CHILD_A)
            assert await _count(owner_db) == 0  # not visible before the commit
        assert await _count(owner_db) == 1
    finally:
        await engine.dispose()
