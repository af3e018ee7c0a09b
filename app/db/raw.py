"""The asyncpg connection beneath a session, for the few statements measured to need it.

The lookup's statements are fixed and run on every registration; through SQLAlchemy's
AsyncSession each one pays for the greenlet bridge, statement compilation and result
wrapping, which the benchmark (``make bench``, L1 against ``C_lookup``) showed to be a
large share of a lookup's cost. Those statements go straight to asyncpg (prepared once
per connection by its statement cache) on the *same* connection and in the *same*
transaction as the session, so the session dependency still commits everything, audit
row included, before the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.errors import ServiceUnavailable


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, with the session's transaction begun on it."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement. A raw
    # statement must never run outside the request's transaction, so begin it here
    # exactly as the adapter would (SQLAlchemy is pinned; tests/db/test_raw.py guards it).
    if adapted._transaction is None:
        try:
            await adapted._start_transaction()
        except Exception as error:
            await _discard(connection, error)
            raise ServiceUnavailable("the service cannot reach its database; retry") from error
    driver: asyncpg.Connection = adapted._connection
    if not driver.is_in_transaction():
        raise RuntimeError("the session's connection is not in a transaction")
    return driver


@asynccontextmanager
async def unbegun_connection(session: AsyncSession) -> AsyncIterator[asyncpg.Connection]:
    """The session's asyncpg connection *without* beginning a transaction on it.

    For one statement that must commit by itself before the request answers (a statement
    outside a transaction is its own): it saves the BEGIN and COMMIT round trips. If the
    session's transaction was already begun, the statement simply joins it and commits
    with it. Keep the body to that statement: a failure that shows the connection dead is
    handled as driver_connection handles one.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.dbapi_connection._connection  # type: ignore[union-attr]
    try:
        yield driver
    except Exception as error:
        if driver.is_closed() or isinstance(error, _DEAD_CONNECTION):
            await _discard(connection, error)
            raise ServiceUnavailable("the service cannot reach its database; retry") from error
        raise


# What a statement raises when its connection, not the statement, failed.
_DEAD_CONNECTION = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


async def _discard(connection: AsyncConnection, error: BaseException) -> None:
    """SQLAlchemy never saw ``error``, so it would hand the dead connection out again. Do
    what it does on a disconnect: mark every connection of this one's generation stale
    (the database restarted or killed them all, so they are likely dead too) and drop
    this one."""
    sync = connection.sync_connection
    if sync is not None:
        sync.engine.pool._invalidate(sync.connection, error)
    await connection.invalidate()
