"""Test harness: a real PostgreSQL, real migrations, a fresh database per test.

With no TEST_DATABASE_URL / DATABASE_URL the suite starts the embedded server
(fsync off) under ``.cpis/test``. Migrations run once into a template database;
each test gets its own copy (CREATE DATABASE ... TEMPLATE), so tests see real
commits and cannot leak state into one another.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.auth import dev_tokens
from app.auth.keys import DevKey, ensure_dev_key
from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.migrate import upgrade_to_head
from app.db.runtime import OWNER, SERVICE, ensure_roles
from app.db.session import DatabaseURLs
from app.db.urls import make_url, plain_url
from app.main import create_app
from tests import log_privacy

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "cpis_test_template"
_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    # Scans every log line of the run for personal data (see tests/log_privacy.py).
    config.pluginmanager.register(log_privacy, "cpis-log-privacy")


class Server:
    """Where the test databases live, and how to reach them as each role."""

    def __init__(self, admin_url: str, host: str, port: int) -> None:
        self.admin_url = admin_url
        self.host = host
        self.port = port
        self.passwords = {OWNER: secrets.token_urlsafe(16), SERVICE: secrets.token_urlsafe(16)}

    def urls(self, database: str) -> DatabaseURLs:
        return DatabaseURLs(
            owner=make_url(self.host, self.port, database, OWNER, self.passwords[OWNER]),
            service=make_url(self.host, self.port, database, SERVICE, self.passwords[SERVICE]),
        )


async def _prepare(server: Server) -> None:
    conn = await asyncpg.connect(server.admin_url)
    try:
        await ensure_roles(conn, server.passwords)
        stale = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'cpis_test_%'")
        for row in stale:
            await conn.execute(f'DROP DATABASE "{row["datname"]}" WITH (FORCE)')
        await conn.execute(f"CREATE DATABASE {TEMPLATE} OWNER {OWNER}")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    external = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if external:
        parts = urlsplit(plain_url(external))
        server = Server(plain_url(external), parts.hostname or "127.0.0.1", parts.port or 5432)
        asyncio.run(_prepare(server))
        upgrade_to_head(server.urls(TEMPLATE).owner)
        yield server
        return
    data_dir = Path(os.environ.get("CPIS_TEST_DATA_DIR", ROOT / ".cpis" / "test"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedPostgres(data_dir, fsync=False) as embedded:
        info = embedded.start()
        server = Server(embedded.url(), info.host, info.port)
        asyncio.run(_prepare(server))
        upgrade_to_head(server.urls(TEMPLATE).owner)
        yield server


@pytest.fixture
async def database(pg_server: Server) -> AsyncIterator[DatabaseURLs]:
    """A fresh, migrated database for one test."""
    name = f"cpis_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(pg_server.admin_url)
    try:
        await admin.execute(
            f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER {OWNER} STRATEGY FILE_COPY"
        )
        yield pg_server.urls(name)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture
async def owner_db(database: DatabaseURLs) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the schema owner, for arranging data and tampering in tests."""
    conn = await asyncpg.connect(database.owner)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("cpis-data"), _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def dev_key(settings: Settings) -> DevKey:
    return ensure_dev_key(settings.dev_key_path)


class Tokens:
    """Mints development tokens for every kind of caller."""

    def __init__(self, settings: Settings, key: DevKey) -> None:
        self.settings = settings
        self.key = key

    def mint(self, claims: dict[str, Any], **kwargs: Any) -> str:
        log_privacy.remember(claims)
        return dev_tokens.mint_token(
            self.key,
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            claims=claims,
            **kwargs,
        )

    def clinician(self, activity: tuple[str, ...] = ("B0107",), **claims: Any) -> str:
        return self.mint(dev_tokens.clinician_claims(activity=activity, **claims))

    def la(self, org: str = "E09000007", **claims: Any) -> str:
        return self.mint(dev_tokens.la_claims(org=org, **claims))

    def auditor(self) -> str:
        return self.mint(dev_tokens.auditor_claims())

    def admin(self) -> str:
        return self.mint(dev_tokens.admin_claims())


@pytest.fixture(scope="session")
def tokens(settings: Settings, dev_key: DevKey) -> Tokens:
    return Tokens(settings, dev_key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(settings: Settings, database: DatabaseURLs) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the real ASGI app (lifespan included) on the test database."""
    app = create_app(settings, database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c
