"""The database stops under load: 503s (never 500, never plans unaudited), then recovery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.db import embedded
from tests.resilience.conftest import Load, PrivateDatabase, Served, audit_rows_for, serve
from tests.support import CHILD_A, add_plan

RECOVERY_SECONDS = 5


async def _readyz(base_url: str) -> int | None:
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=2) as c:
            return (await c.get("/readyz")).status_code
    except httpx.TransportError:
        return None


async def test_database_outage_under_load_is_503_then_recovers_by_itself(
    settings: Settings,
    private_db: PrivateDatabase,
    servers: list[Served],
    token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = await asyncpg.connect(private_db.urls.owner)
    await add_plan(conn, CHILD_A)
    await conn.close()
    server = serve(settings, tmp_path / "serve", urls=private_db.urls)
    servers.append(server)
    load = Load(server.base_url, token)
    marks: dict[str, float] = {}

    async def outage() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(private_db.server.stop)
        marks["down"] = time.monotonic()
        await asyncio.sleep(1.5)
        marks["readyz_down"] = await _readyz(server.base_url) or 0
        # Same port again, so the service's URL stays right (as a restarted server would).
        monkeypatch.setattr(embedded, "_free_port", lambda: private_db.port)
        await asyncio.to_thread(private_db.server.start)
        marks["up"] = time.monotonic()
        await asyncio.sleep(RECOVERY_SECONDS + 0.5)

    await load.run_while(outage())
    during = [o for o in load.outcomes if marks["down"] + 0.2 < o.at < marks["up"]]
    recovered = [o for o in load.outcomes if o.at > marks["up"] and o.status == 200]
    statuses = {o.status for o in load.outcomes}

    assert 500 not in statuses, statuses
    assert None not in statuses, statuses
    assert during
    assert {o.status for o in during} == {503}
    assert marks["readyz_down"] == 503
    assert recovered, "no lookup succeeded after the database came back"
    assert recovered[0].at - marks["up"] < RECOVERY_SECONDS
    assert await _readyz(server.base_url) == 200
    answered = [o for o in load.outcomes if o.status == 200]
    assert all(o.has_plans for o in answered)
    rows = await audit_rows_for(private_db.urls.owner, [o.request_id for o in answered])
    assert [o.request_id for o in answered if o.request_id not in rows] == []
    print(  # the figures for the record: run with -s
        f"\noutage: {len(load.outcomes)} lookups, {len(answered)} answered 200, "
        f"{len(during)} during the outage all 503, first 200 "
        f"{recovered[0].at - marks['up']:.2f} s after the database was back"
    )


async def test_sigkill_under_load_loses_no_audit_row_of_an_answered_lookup(
    settings: Settings,
    private_db: PrivateDatabase,
    servers: list[Served],
    token: str,
    tmp_path: Path,
) -> None:
    conn = await asyncpg.connect(private_db.urls.owner)
    await add_plan(conn, CHILD_A)
    await conn.close()
    server = serve(settings, tmp_path / "serve", urls=private_db.urls)
    servers.append(server)
    load = Load(server.base_url, token, concurrency=8)

    async def kill() -> None:
        await asyncio.sleep(1.5)
        server.process.kill()
        await asyncio.to_thread(server.process.wait, 10)
        await asyncio.sleep(0.3)

    await load.run_while(kill())
    answered = [o for o in load.outcomes if o.status == 200]
    assert answered
    assert {o.status for o in load.outcomes} <= {200, None}
    rows = await audit_rows_for(private_db.urls.owner, [o.request_id for o in answered])
    missing = [o.request_id for o in answered if o.request_id not in rows]
    assert missing == []
    assert all(o.access_id and o.access_id in rows[o.request_id] for o in answered)
    print(
        f"\nsigkill: {len(answered)} answered 200 before the kill, all with their audit row; "
        f"{sum(o.status is None for o in load.outcomes)} cut off"
    )
