"""Real processes for fault injection: a private PostgreSQL, a `cpis serve` subprocess, load.

Each test that breaks the database gets its own embedded server in a temporary directory
(never the suite's shared one), and each server is a real `cpis serve` process whose
stderr is scanned for personal data like every other log line of the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.db.embedded import EmbeddedPostgres
from app.db.migrate import upgrade_to_head
from app.db.runtime import DATABASE, OWNER, SERVICE, provision
from app.db.session import DatabaseURLs
from app.db.urls import make_url
from tests import log_privacy
from tests.conftest import ROOT, Tokens, bearer
from tests.support import CHILD_A

PASSWORDS = {OWNER: "resilience-owner", SERVICE: "resilience-service"}


@dataclass
class PrivateDatabase:
    server: EmbeddedPostgres
    urls: DatabaseURLs
    port: int


@pytest.fixture
def private_db(tmp_path: Path) -> Iterator[PrivateDatabase]:
    """A migrated embedded PostgreSQL this test may stop and start at will."""
    server = EmbeddedPostgres(tmp_path / "pg-data", fsync=False)
    info = server.start()
    try:
        asyncio.run(provision(server.url(), PASSWORDS))
        urls = DatabaseURLs(
            owner=make_url(info.host, info.port, DATABASE, OWNER, PASSWORDS[OWNER]),
            service=make_url(info.host, info.port, DATABASE, SERVICE, PASSWORDS[SERVICE]),
        )
        upgrade_to_head(urls.owner)
        yield PrivateDatabase(server, urls, info.port)
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def scan_logs(self) -> None:
        lines = self.log_path.read_text(errors="replace").splitlines()
        log_privacy.scan_external(f"cpis serve ({self.log_path.name})", lines)


def serve(settings: Settings, data_dir: Path, *, urls: DatabaseURLs | None = None) -> Served:
    """Start `cpis serve` on a free port; wait until /readyz answers 200."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = data_dir / settings.dev_key_path.name
    if not key.exists():  # tokens minted by the suite must verify in the subprocess
        shutil.copy(settings.dev_key_path, key)
        key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPIS_")}
    env.pop("DATABASE_URL", None)
    env |= {"CPIS_DATA_DIR": str(data_dir), "CPIS_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    if urls is not None:
        env |= {"DATABASE_URL": urls.owner, "CPIS_APP_DATABASE_URL": urls.service}
    log_path = data_dir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cpis serve exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(served.base_url + "/readyz", timeout=1).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    served.stop(signal.SIGKILL)
    raise RuntimeError("cpis serve did not become ready within 60 s")


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    """Every server a test starts is stopped, and its log scanned, whatever happens."""
    started: list[Served] = []
    yield started
    for s in started:
        s.stop(signal.SIGKILL)
        s.scan_logs()


@dataclass
class Outcome:
    request_id: str
    status: int | None  # None: no HTTP answer (connection refused or cut)
    error: str | None = None
    access_id: str | None = None
    has_plans: bool = False
    at: float = 0.0


@dataclass
class Load:
    """A bounded load generator: ``concurrency`` workers looking CHILD_A up until stopped."""

    base_url: str
    token: str
    concurrency: int = 6
    max_requests: int = 5000
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _one(self, client: httpx.AsyncClient) -> None:
        request_id = f"load-{uuid.uuid4()}"
        headers = {**bearer(self.token), "X-Request-ID": request_id}
        body = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
        try:
            r = await client.post("/v1/lookups", json=body, headers=headers)
        except httpx.TransportError as exc:
            self.outcomes.append(Outcome(request_id, None, type(exc).__name__, at=time.monotonic()))
            await asyncio.sleep(0.02)  # server gone: do not spin
            return
        data: dict[str, Any] = r.json() if r.content else {}
        self.outcomes.append(
            Outcome(
                request_id,
                r.status_code,
                access_id=data.get("access_id"),
                has_plans=bool(data.get("plans")),
                at=time.monotonic(),
            )
        )

    async def _worker(self) -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, limits=limits) as c:
            while not self._stop.is_set() and len(self.outcomes) < self.max_requests:
                await self._one(c)

    async def run_while(self, body: Any) -> None:
        """Keep the load on while ``body`` (a coroutine) runs, then stop it."""
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            await body
        finally:
            self._stop.set()
            await asyncio.gather(*workers)


async def audit_rows_for(owner_url: str, request_ids: list[str]) -> dict[str, str]:
    """request_id -> audit detail (text) of the lookups recorded for those requests."""
    conn = await asyncpg.connect(owner_url)
    try:
        rows = await conn.fetch(
            "SELECT request_id, detail::text FROM audit_events"
            " WHERE kind = 'lookup' AND request_id = ANY($1::text[])",
            request_ids,
        )
    finally:
        await conn.close()
    return {r["request_id"]: r["detail"] for r in rows}


def credentials(data_dir: Path) -> dict[str, str]:
    stored: dict[str, str] = json.loads((data_dir / "db-credentials.json").read_text())
    return stored


@pytest.fixture
def token(tokens: Tokens) -> str:
    return tokens.clinician(sub="load-generator")
