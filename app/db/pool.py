"""The lookup's own asyncpg pool: the registration desk's path without the ORM.

A lookup is a few fixed statements on every registration. Through an AsyncSession each
one also paid for the session, its greenlet bridge and its commit machinery, a
measurable share of a lookup (``make bench``: L1, L2). So the lookup (POST /v1/lookups
and the FHIR CareTeam search, which is the same call) takes a connection from this pool
and runs its statements on it directly; every other route keeps the SQLAlchemy session.

The rules are the session's: the lookup's writes commit before the answer is built
(app/lookup/service.py), and any failure to reach the database answers 503. The pool
sits beside the engine's, with the same size limit and the same server settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import asyncpg

from app.config import Settings
from app.db.session import DatabaseURLs, server_settings
from app.db.urls import plain_url
from app.errors import ServiceUnavailable

# As long as the engine waits for a pooled connection (app/db/session.py).
ACQUIRE_TIMEOUT_S = 5

# What a statement raises when its connection, not the statement, failed (asyncpg's
# InternalClientError: a protocol cut off mid-statement by a server going away).
DEAD_CONNECTION = (
    OSError,
    asyncpg.InternalClientError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


# The lookup's statements are few and fixed, so each is planned once per connection. Left
# to choose, PostgreSQL kept re-planning RECORD on every execution (a custom plan: its
# time bounds are parameters), 0.6 ms of a flagged lookup's 2.7 ms of database CPU (make
# bench); the generic plans use the same indexes (checked with EXPLAIN (GENERIC_PLAN),
# and tests/lookup/test_lookup_plans.py keeps them honest).
LOOKUP_SESSION = {"plan_cache_mode": "force_generic_plan"}


async def keep_session(connection: asyncpg.Connection) -> None:
    """A released connection needs no reset beyond the rollback asyncpg always does.

    asyncpg's default reset is a round trip per release (RESET ALL, UNLISTEN, CLOSE ALL,
    unlock advisory locks). The lookup changes no session state: it sets nothing, listens
    to nothing, and takes only transaction-scoped advisory locks, gone at commit.
    """


async def create_pool(settings: Settings, urls: DatabaseURLs) -> asyncpg.Pool:
    """The lookup pool; it connects on demand, like the engine, so startup needs no database."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        plain_url(urls.service),
        min_size=0,
        max_size=settings.db_pool_size + settings.db_pool_max_overflow,
        reset=keep_session,
        server_settings={**server_settings(settings, urls), **LOOKUP_SESSION},
        timeout=ACQUIRE_TIMEOUT_S,  # connecting
    )
    return pool


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection; a database that cannot be reached, or a connection found dead,
    is a 503. A dead connection means the server restarted or dropped its clients, so the
    pool's other idle connections are expired too rather than handed out to fail in turn."""
    dead: BaseException | None = None
    try:
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as proxy:
            # A proxy that refuses use after release; it has every Connection method.
            conn = cast(asyncpg.Connection, proxy)
            try:
                yield conn
            except Exception as error:
                if not (conn.is_closed() or isinstance(error, DEAD_CONNECTION)):
                    raise
                dead = error
    except DEAD_CONNECTION as error:  # connecting, or releasing a connection that died
        dead = error
    if dead is not None:
        await pool.expire_connections()
        raise ServiceUnavailable("the service cannot reach its database; retry") from dead
