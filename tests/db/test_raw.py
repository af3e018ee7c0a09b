"""Raw asyncpg statements run inside the session's transaction, never beside it."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.db.raw import driver_connection
from app.db.session import DatabaseURLs
from app.db.urls import async_url
from tests.conftest import Server, Tokens, bearer
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


async def test_a_connection_lost_between_requests_fails_one_request_closed_then_recovers(
    client: httpx.AsyncClient, tokens: Tokens, pg_server: Server, database: DatabaseURLs
) -> None:
    body = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
    headers = bearer(tokens.clinician())
    assert (await client.post("/v1/lookups", json=body, headers=headers)).status_code == 200
    admin = await asyncpg.connect(pg_server.admin_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND usename = 'cpis_service'",
            urlsplit(database.service).path.lstrip("/"),
        )
    finally:
        await admin.close()
    statuses = [
        (await client.post("/v1/lookups", json=body, headers=headers)).status_code for _ in range(3)
    ]
    assert set(statuses[:1]) <= {200, 503}
    assert statuses[1:] == [200, 200]  # the dead connection was not handed out again
