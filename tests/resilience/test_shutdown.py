"""SIGTERM under load: in-flight lookups finish, new ones are refused, the database stops.

`cpis serve` runs here with its own data directory, so it starts (and must stop) its own
embedded PostgreSQL. To have requests truly in flight when the signal lands, the test holds
a lock every lookup's audit append waits for, signals, then lets go.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import httpx

from app.config import Settings
from app.db.embedded import _postmaster, _proc_token
from app.db.runtime import DATABASE, OWNER
from app.db.urls import make_url
from tests.conftest import bearer
from tests.resilience.conftest import Served, audit_rows_for, credentials, serve
from tests.support import CHILD_A, wait_for_lock_waiters

IN_FLIGHT = 6
GRACE_SECONDS = 10  # cmd_serve's timeout_graceful_shutdown


async def _signal_while_in_flight(
    server: Served, blocker: asyncpg.Connection, token: str
) -> tuple[list[httpx.Response], int | None, float]:
    """Hold every lookup inside the database, SIGTERM, try a new request, then let go."""
    body = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE audit_chain_heads IN EXCLUSIVE MODE")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        in_flight = [
            asyncio.create_task(
                client.post(
                    "/v1/lookups",
                    json=body,
                    headers={**bearer(token), "X-Request-ID": f"in-flight-{i}"},
                )
            )
            for i in range(IN_FLIGHT)
        ]
        await wait_for_lock_waiters(blocker, IN_FLIGHT)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        refused: int | None
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=3) as late:
                refused = (await late.get("/healthz")).status_code
        except httpx.TransportError:
            refused = None
        await transaction.rollback()
        return list(await asyncio.gather(*in_flight)), refused, signalled


async def test_sigterm_finishes_in_flight_lookups_refuses_new_ones_and_stops_the_database(
    settings: Settings, servers: list[Served], token: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "own-data"
    server = serve(settings, data_dir)  # no DATABASE_URL: its own embedded PostgreSQL
    servers.append(server)
    pgdata = (data_dir / "pg").resolve()
    postmaster = _postmaster(pgdata)
    assert postmaster is not None
    owner = credentials(data_dir)[OWNER]
    blocker = await asyncpg.connect(make_url("127.0.0.1", postmaster[1], DATABASE, OWNER, owner))
    try:
        answers, refused, signalled = await _signal_while_in_flight(server, blocker, token)
    finally:
        await blocker.close()
    exit_code = await asyncio.to_thread(server.process.wait, GRACE_SECONDS + 20)
    stopped_after = time.monotonic() - signalled

    assert [a.status_code for a in answers] == [200] * IN_FLIGHT
    assert refused is None, "a new connection was served after SIGTERM"
    assert stopped_after < GRACE_SECONDS + 5
    assert exit_code == 128 + signal.SIGTERM
    assert _proc_token(postmaster[0]) is None, "the embedded database is still running"
    assert not (pgdata / "postmaster.pid").exists()
    assert "database system is shut down" in (data_dir / "pg-server.log").read_text()
    assert not (data_dir / "pg-owner.pid").exists()
    # The answered lookups were committed before the database went down.
    restarted = serve(settings, data_dir)
    servers.append(restarted)
    fresh = _postmaster(pgdata)
    assert fresh is not None
    ids = [f"in-flight-{i}" for i in range(IN_FLIGHT)]
    url = make_url("127.0.0.1", fresh[1], DATABASE, OWNER, owner)
    assert sorted(await audit_rows_for(url, ids)) == ids
    print(f"\nsigterm: {IN_FLIGHT} in-flight lookups answered 200, exit in {stopped_after:.2f} s")
