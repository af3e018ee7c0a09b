"""An upload killed mid-merge leaves no trace, and its retry then succeeds.

A real server runs in a subprocess; the test holds a row lock on one plan the
upload must update, so the merge is provably in flight when the server is
SIGKILLed. PostgreSQL then rolls the orphaned transaction back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import asyncpg
import httpx

from app.config import Settings
from app.db.session import DatabaseURLs
from app.ingest.demo_file import write_upload_file
from tests.conftest import ROOT, Tokens, bearer
from tests.ingest.helpers import plans_of, upload_count
from tests.support import CAMDEN, add_plan

SERVER = """
import os, uvicorn
from app.config import Settings
from app.db.session import DatabaseURLs
from app.main import create_app
urls = DatabaseURLs(owner=os.environ["T_OWNER"], service=os.environ["T_SERVICE"])
settings = Settings(data_dir=os.environ["T_DATA_DIR"], _env_file=None)
uvicorn.run(create_app(settings, urls), host="127.0.0.1", port=int(os.environ["T_PORT"]),
            log_config=None, access_log=False)
"""
ROWS = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def start_server(
    settings: Settings, database: DatabaseURLs
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "T_OWNER": database.owner,
        "T_SERVICE": database.service,
        "T_DATA_DIR": str(settings.data_dir),
        "T_PORT": str(port),
    }
    process = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=env)  # noqa: ASYNC220 - a long-lived child, not awaited
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    async with httpx.AsyncClient() as probe:
        while time.monotonic() < deadline:
            try:
                if (await probe.get(url + "/healthz")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start")


async def wait_for(db: asyncpg.Connection, query: str) -> None:
    deadline = time.monotonic() + 15
    while not await db.fetchval(query):
        assert time.monotonic() < deadline, query
        await asyncio.sleep(0.05)


async def test_an_upload_killed_mid_merge_leaves_plans_as_before_and_the_retry_succeeds(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    settings: Settings,
    database: DatabaseURLs,
    tmp_path: Path,
) -> None:
    path = tmp_path / "upload.csv"
    write_upload_file(path, rows=ROWS, seed=7)
    first = path.read_text().splitlines()[1].split(",")
    # The merge must update this plan (another local_id), so it waits for our row lock.
    await add_plan(owner_db, first[0], plan_type=first[1], start=date.fromisoformat(first[2]))
    before = await plans_of(owner_db)
    body = path.read_bytes()
    headers = {**bearer(tokens.la()), "Content-Type": "text/csv"}
    process, url = await start_server(settings, database)
    blocker = await asyncpg.connect(database.owner)
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT 1 FROM plans FOR UPDATE")
            async with httpx.AsyncClient(timeout=30) as sender:
                sending = asyncio.create_task(
                    sender.post(f"{url}/v1/uploads?sequence=3", content=body, headers=headers)
                )
                # The merge is waiting on our row lock: it has staged and begun writing plans.
                await wait_for(owner_db, "SELECT count(*) > 0 FROM pg_locks WHERE NOT granted")
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
                assert process.returncode == -signal.SIGKILL
                try:
                    await sending
                except httpx.TransportError:
                    pass
                else:
                    raise AssertionError("the killed server answered")
    finally:
        await blocker.close()
        if process.poll() is None:
            process.kill()
    # Once the orphaned backend notices its client is gone it rolls back, releasing the
    # per-authority upload lock; nothing it did remains. (Other service connections,
    # such as the webhook dispatcher's, stay open: count the upload's lock only.)
    await wait_for(
        owner_db,
        "SELECT count(*) = 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        " WHERE a.datname = current_database() AND a.usename = 'cpis_service'"
        " AND l.locktype = 'advisory'",
    )
    assert await plans_of(owner_db) == before
    assert await upload_count(owner_db) == 0
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'upload'") == 0
    retry = await client.post("/v1/uploads?sequence=3", content=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json()["accepted"] == ROWS
    assert len(await plans_of(owner_db, CAMDEN)) == ROWS
