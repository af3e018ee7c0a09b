"""The asyncpg connection beneath a session, for the few statements measured to need it.

Some statements are fixed and hot (the access history, the notification feed, audit
appends beside other work); through SQLAlchemy's AsyncSession each one pays for the
greenlet bridge, statement compilation and result wrapping. Those statements go
straight to asyncpg (prepared once per connection by its statement cache) on the *same*
connection and in the *same* transaction as the session, so the session dependency
still commits everything, audit row included, before the response is sent. (The lookup
itself goes further and takes no session at all: app/db/pool.py.)
"""

from __future__ import annotations

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


async def _discard(connection: AsyncConnection, error: BaseException) -> None:
    """SQLAlchemy never saw ``error``, so it would hand the dead connection out again. Do
    what it does on a disconnect: mark every connection of this one's generation stale
    (the database restarted or killed them all, so they are likely dead too) and drop
    this one."""
    sync = connection.sync_connection
    if sync is not None:
        sync.engine.pool._invalidate(sync.connection, error)
    await connection.invalidate()
