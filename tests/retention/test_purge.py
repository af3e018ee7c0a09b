"""Retention: exactly the plans past retention go, the audit trail stays, purges serialise."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.audit import service as audit
from app.db.session import DatabaseURLs, create_sessionmaker, transaction
from app.db.urls import async_url
from app.plans.visibility import visible_sql
from app.retention import job
from app.retention.repository import PURGE_LOCK
from app.retention.service import SCHEDULED_ACTOR, PurgeResult, purge
from tests.conftest import Tokens, bearer
from tests.support import CAMDEN, CHILD_A, CHILD_B, CHILD_C, LEEDS, MOTHER, add_plan

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 27)


def maker_of(client: httpx.AsyncClient) -> async_sessionmaker[AsyncSession]:
    return client.app.state.sessionmaker  # type: ignore[attr-defined,no-any-return]


async def run_purge(client: httpx.AsyncClient, *, wait: bool = True) -> PurgeResult:
    async with transaction(maker_of(client)) as session:
        return await purge(session, today=TODAY, actor=SCHEDULED_ACTOR, wait=wait)


async def remaining(owner_db: asyncpg.Connection) -> set[str]:
    return {r["local_id"] for r in await owner_db.fetch("SELECT local_id FROM plans")}


async def arrange_every_retention_case(owner_db: asyncpg.Connection) -> None:
    cases = {
        # label: (end, delete, withdrawn)
        "delete-date-yesterday": (None, date(2026, 11, 26), False),
        "delete-date-today": (None, TODAY, False),
        "delete-date-later-wins-over-old-end": (date(2020, 1, 1), date(2027, 1, 1), False),
        "end-12-months-and-a-day-ago": (date(2025, 11, 26), None, False),
        "end-exactly-12-months-ago": (date(2025, 11, 27), None, False),
        "no-end-date": (None, None, False),
        "withdrawn-ended-long-ago": (date(2024, 1, 1), None, True),
        "withdrawn-without-dates": (None, None, True),
    }
    for i, (label, (end, delete, withdrawn)) in enumerate(cases.items()):
        await add_plan(
            owner_db,
            CHILD_A,
            start=date(2019, 1, 1 + i),
            end=end,
            delete=delete,
            withdrawn=withdrawn,
        )
        await owner_db.execute("UPDATE plans SET local_id = $1 WHERE local_id IS NULL", label)


async def test_purge_deletes_exactly_the_plans_past_retention(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    await arrange_every_retention_case(owner_db)
    result = await run_purge(client)
    assert await remaining(owner_db) == {
        "delete-date-today",
        "delete-date-later-wins-over-old-end",
        "end-exactly-12-months-ago",
        "no-end-date",
        "withdrawn-without-dates",
    }
    assert (result.plans_deleted, result.withdrawn_plans_deleted) == (3, 1)
    assert result.by_plan_type == {"CPP": 3}


async def test_every_plan_kept_unwithdrawn_is_still_visible_and_every_one_deleted_was_not(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    await arrange_every_retention_case(owner_db)
    visible = {
        r["local_id"]
        for r in await owner_db.fetch(
            f"SELECT local_id FROM plans p WHERE {visible_sql('p').replace(':today', '$1')}", TODAY
        )
    }
    await run_purge(client)
    kept = await remaining(owner_db)
    assert visible <= kept
    assert {k for k in kept if not k.startswith("withdrawn")} == visible


async def test_purge_leaves_the_audit_trail_intact_and_records_counts_only(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A, start=date(2019, 1, 1), end=date(2024, 1, 1))
    body = {"nhs_number": CHILD_A, "care_setting": "minor-injury-unit"}
    await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    before = await owner_db.fetch("SELECT seq, hash FROM audit_events ORDER BY seq")
    result = await run_purge(client)
    assert result.plans_deleted == 1
    after = await owner_db.fetch("SELECT seq, hash, kind, detail FROM audit_events ORDER BY seq")
    assert [(r["seq"], r["hash"]) for r in after[:-1]] == [(r["seq"], r["hash"]) for r in before]
    assert after[-1]["kind"] == "purge"
    assert CHILD_A not in after[-1]["detail"]
    assert '"plans_deleted": 1' in after[-1]["detail"]
    engine = create_async_engine(async_url(database.service))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            verdict = await audit.verify(session)
    finally:
        await engine.dispose()
    assert verdict.ok, verdict.reason


async def test_a_purge_gives_way_to_one_already_running(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, start=date(2019, 1, 1), end=date(2024, 1, 1))
    await owner_db.execute("SELECT pg_advisory_lock($1)", PURGE_LOCK)
    try:
        skipped = await run_purge(client, wait=False)
        waiting = asyncio.create_task(run_purge(client, wait=True))
        await asyncio.sleep(0.2)
        assert not waiting.done()
    finally:
        await owner_db.execute("SELECT pg_advisory_unlock($1)", PURGE_LOCK)
    assert skipped.ran is False
    assert (await waiting).plans_deleted == 1
    kinds = await owner_db.fetch("SELECT kind FROM audit_events")
    assert [r["kind"] for r in kinds] == ["purge"]  # the skipped one recorded nothing


async def test_purge_forgets_alerts_of_children_no_longer_held(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    await add_plan(
        owner_db, CHILD_A, authority=CAMDEN, start=date(2019, 1, 1), end=date(2024, 1, 1)
    )
    await add_plan(owner_db, CHILD_B, authority=LEEDS)
    for nhs, code in ((CHILD_A, CAMDEN), (CHILD_B, LEEDS)):
        await owner_db.execute(
            "INSERT INTO attendance_alerts (nhs_number, local_authority_code, rule, window_days,"
            " first_attended_at, last_attended_at, attendances, notification_id)"
            " VALUES ($1, $2, 'attendances', 365, now(), now(), 10, gen_random_uuid())",
            nhs,
            code,
        )
    assert (await run_purge(client)).alerts_deleted == 1
    left = await owner_db.fetch("SELECT nhs_number FROM attendance_alerts")
    assert [r["nhs_number"] for r in left] == [CHILD_B]


async def test_the_scheduled_job_purges_in_the_background_and_stops_cleanly(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_C, start=date(2019, 1, 1), end=date(2020, 1, 1))
    task = job.start(maker_of(client), 0.05)
    assert task is not None
    try:
        for _ in range(100):
            if not await owner_db.fetchval("SELECT count(*) FROM plans"):
                break
            await asyncio.sleep(0.05)
    finally:
        await job.stop(task)
    assert await owner_db.fetchval("SELECT count(*) FROM plans") == 0
    assert task.cancelled()
    assert job.start(maker_of(client), 0) is None


async def test_cpis_purge_command_deletes_and_reports(
    database: DatabaseURLs, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, MOTHER, plan_type="UCPP", start=date(2019, 1, 1), end=date(2020, 1, 1))
    await add_plan(owner_db, CHILD_A)
    env = {
        **os.environ,
        "DATABASE_URL": database.owner,
        "CPIS_APP_DATABASE_URL": database.service,
        "CPIS_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "purge", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert '"plans_deleted": 1' in out.decode()
    assert await owner_db.fetchval("SELECT count(*) FROM plans") == 1
    actor = await owner_db.fetchval("SELECT actor->>'type' FROM audit_events WHERE kind = 'purge'")
    assert actor == "operator"
