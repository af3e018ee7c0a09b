"""The bench's own embedded PostgreSQL (or DATABASE_URL's server) and its databases.

The bench never touches the development database (``.cpis``) or the test cluster: it
runs a cluster of its own under the profile's data dir, with the same roles the
service uses (``cpis_owner``, ``cpis_app``, ``cpis_service``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from app.db.embedded import EmbeddedPostgres
from app.db.runtime import OWNER, SERVICE, credentials, ensure_roles
from app.db.session import DatabaseURLs
from app.db.urls import make_url, plain_url

CREDENTIALS_FILE = "bench-credentials.json"


def shared_buffers_mb() -> int:
    """PostgreSQL's own sizing advice: a quarter of the machine's memory (at most 8 GB).

    Every lookup writes into its child's leaf of the trail's index of looks by child,
    scattered over several GB on 10 M events (two such indexes before migration
    20261128_10), and reads a page whenever that leaf is not in shared buffers.
    Before the history was read from its index alone (migration 20261128_09), a flagged
    lookup on 10 M events also read its 25 history rows from scattered heap pages: at
    512 MB on the 24 GB bench machine that was 11.7 page reads per flagged lookup (0.7 on
    an empty trail), and the lookup's main statement took 1.57 ms against 0.94 ms at a
    quarter of memory (1.6 reads per lookup).
    """
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(128, min(8192, memory // 4 // 2**20))


# For a 10 M-row audit table; the same for service and ceiling.
SERVER_SETTINGS = {
    "shared_buffers": f"{shared_buffers_mb()}MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "max_connections": "200",
    # Every lookup inserts into a random leaf of the trail's index of looks by child, so
    # after a checkpoint most lookups log a whole page (0.5-0.75 full-page images per lookup
    # on 10 M events against 0.03 on an empty trail). This build has only pglz, which costs
    # more CPU than the WAL it saves on this CPU-bound machine: with it off, PostgreSQL
    # spent 0.82 ms of CPU per lookup on the full trail against 0.88 ms with pglz, and L3
    # was 0.90 against 0.84 in the same windows (medians of nine windows each: three
    # `python -m bench.diagnose` runs per setting, taken in turn; 7.3 KB of WAL per lookup
    # against 3.1-4.2 KB). Single make bench runs are too noisy to show it in L3 (0.77-0.88
    # off, 0.80-0.82 with pglz), but L1 on the full trail was 1,022-1,047 /s off against
    # 904-967 /s with pglz (three runs and two). At 512 MB of shared buffers on a slower
    # machine pglz had helped; README says when to turn it on.
    "wal_compression": "off",
}


@dataclass(frozen=True)
class Cluster:
    admin_url: str
    host: str
    port: int
    passwords: dict[str, str]

    def urls(self, database: str) -> DatabaseURLs:
        return DatabaseURLs(
            owner=make_url(self.host, self.port, database, OWNER, self.passwords[OWNER]),
            service=make_url(self.host, self.port, database, SERVICE, self.passwords[SERVICE]),
        )

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_url)

    async def server_version(self) -> str:
        conn = await self.admin()
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()


def start_embedded(
    data_dir: Path, extra: Mapping[str, str] | None = None
) -> tuple[EmbeddedPostgres, Cluster]:
    """Start (or reuse) the bench cluster, with ``extra`` settings on top of SERVER_SETTINGS
    when it starts here; the caller stops the returned server."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    server = EmbeddedPostgres(data_dir, fsync=True, settings={**SERVER_SETTINGS, **(extra or {})})
    info = server.start()
    passwords = credentials(data_dir, CREDENTIALS_FILE)
    return server, Cluster(server.url(), info.host, info.port, passwords)


def external(url: str, data_dir: Path) -> Cluster:
    """A superuser DATABASE_URL: the bench creates its roles and databases there."""
    parts = urlsplit(plain_url(url))
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Cluster(plain_url(url), parts.hostname or "127.0.0.1", parts.port or 5432,
                   credentials(data_dir, CREDENTIALS_FILE))  # fmt: skip


async def ensure_bench_roles(cluster: Cluster) -> None:
    conn = await cluster.admin()
    try:
        await ensure_roles(conn, cluster.passwords)
    finally:
        await conn.close()


async def database_exists(cluster: Cluster, name: str) -> bool:
    conn = await cluster.admin()
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def clone(cluster: Cluster, template: str, name: str) -> None:
    """A fresh copy of ``template`` (dropped first if a previous run left one)."""
    conn = await cluster.admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {OWNER} STRATEGY FILE_COPY'
        )
    finally:
        await conn.close()


async def drop(cluster: Cluster, name: str) -> None:
    conn = await cluster.admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def settle(cluster: Cluster) -> None:
    """Write back what cloning dirtied, so that no measurement shares the disk with it.

    A CHECKPOINT flushes this cluster only; a system-wide sync would also stall every
    other process's writes on a shared machine (the test suite's own databases included).
    """
    conn = await cluster.admin()
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
