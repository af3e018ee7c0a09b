"""Which database a command uses: DATABASE_URL, or the embedded PostgreSQL.

With no DATABASE_URL every command (serve, migrate, tests) finds or starts the
private server under the data directory and stops it on exit if it started it.
The embedded database gets three roles: ``cpis_owner`` (owns the schema; migrations),
``cpis_app`` (privileges only, no login) and ``cpis_service`` (the service's login,
a member of ``cpis_app``). Their passwords live in ``<data dir>/db-credentials.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.session import DatabaseURLs
from app.db.urls import make_url, plain_url

DATABASE = "cpis"
OWNER = "cpis_owner"
SERVICE = "cpis_service"


@contextmanager
def open_database(settings: Settings, *, fsync: bool = True) -> Iterator[DatabaseURLs]:
    """Yield the URLs to use; an embedded server started here is stopped on exit."""
    if settings.database_url:
        yield external_urls(settings)
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with EmbeddedPostgres(settings.data_dir, fsync=fsync) as server:
        info = server.start()
        passwords = credentials(settings.data_dir)
        asyncio.run(provision(server.url(), passwords))
        yield DatabaseURLs(
            owner=make_url(info.host, info.port, DATABASE, OWNER, passwords[OWNER]),
            service=make_url(info.host, info.port, DATABASE, SERVICE, passwords[SERVICE]),
        )


def external_urls(settings: Settings) -> DatabaseURLs:
    assert settings.database_url
    owner = plain_url(settings.database_url)
    if settings.app_database_url:
        return DatabaseURLs(owner=owner, service=plain_url(settings.app_database_url))
    # No separate login for the service: it assumes the privilege-only role itself.
    return DatabaseURLs(owner=owner, service=owner, service_role="cpis_app")


def credentials(data_dir: Path, name: str = "db-credentials.json") -> dict[str, str]:
    """The owner's and the service's passwords, made once and kept (mode 0600)."""
    path = data_dir / name
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    passwords = {OWNER: secrets.token_urlsafe(24), SERVICE: secrets.token_urlsafe(24)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(passwords, f)
    return passwords


async def provision(superuser_url: str, passwords: dict[str, str]) -> None:
    """Create the roles and the database if missing (idempotent)."""
    conn = await asyncpg.connect(superuser_url)
    try:
        await ensure_roles(conn, passwords)
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await conn.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER}")
    finally:
        await conn.close()


async def ensure_roles(conn: asyncpg.Connection, passwords: dict[str, str]) -> None:
    for role, login in ((OWNER, True), ("cpis_app", False), (SERVICE, True)):
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await conn.execute(f"CREATE ROLE {role} {'LOGIN' if login else 'NOLOGIN'}")
        if login:
            # Identifiers are constants; the password goes through quote_literal server-side.
            quoted = await conn.fetchval("SELECT quote_literal($1)", passwords[role])
            await conn.execute(f"ALTER ROLE {role} PASSWORD {quoted}")
    await conn.execute(f"GRANT cpis_app TO {SERVICE}")
