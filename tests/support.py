"""Arranging data for tests, as the schema owner, without going round the rules."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.audit import repository as audit_repository
from app.audit import service as audit_service
from app.audit.schemas import AuditKind, NewAuditEvent
from app.db.session import DatabaseURLs, create_sessionmaker, transaction
from app.db.urls import async_url

# Valid NHS numbers in the 999 test range.
CHILD_A = "9996704874"
CHILD_B = "9991167390"
CHILD_C = "9997775724"
MOTHER = "9992883898"
UNKNOWN = "9992567872"
CAMDEN = "E09000007"
LEEDS = "E08000035"
KENT = "E10000016"


async def add_plan(
    db: asyncpg.Connection,
    nhs_number: str,
    *,
    authority: str = CAMDEN,
    plan_type: str = "CPP",
    start: date = date(2026, 1, 5),
    end: date | None = None,
    delete: date | None = None,
    withdrawn: bool = False,
) -> None:
    await db.execute(
        "INSERT INTO plans (local_authority_code, nhs_number, plan_type, start_date, end_date,"
        " delete_date, withdrawn_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        authority,
        nhs_number,
        plan_type,
        start,
        end,
        delete,
        datetime.now(UTC) if withdrawn else None,
    )


async def set_phones(db: asyncpg.Connection, code: str, office: str, duty: str) -> None:
    await db.execute(
        "UPDATE local_authorities SET office_hours_phone = $2, emergency_duty_phone = $3"
        " WHERE code = $1",
        code,
        office,
        duty,
    )


async def add_past_lookup(
    urls: DatabaseURLs,
    nhs_number: str,
    *,
    at: datetime,
    sub: str,
    unscheduled: bool = True,
    name: str = "Dr Past",
) -> None:
    """Append a lookup event at a past moment through the real chained append."""
    engine = create_async_engine(async_url(urls.service))
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            await _append(session, nhs_number, at=at, sub=sub, unscheduled=unscheduled, name=name)
    finally:
        await engine.dispose()


async def _append(session: AsyncSession, nhs_number: str, **f: Any) -> None:
    actor = {
        "type": "health-user",
        "sub": f["sub"],
        "name": f["name"],
        "role_id": "555000000009",
        "role_name": "Nurse",
        "role_code": "S0010:G0020:R0030",
        "org_code": "RXX01",
        "org_name": "Elsewhere MIU",
    }
    await audit_repository.append(
        session,
        NewAuditEvent(
            kind=AuditKind.LOOKUP,
            actor=actor,
            request_id="past",
            detail={"plans_shown": 1},
            subject_nhs_number=nhs_number,
            unscheduled=f["unscheduled"],
            care_setting="minor-injury-unit",
            occurred_at=f["at"],
        ),
    )


async def verify_trail(
    urls: DatabaseURLs, workers: audit_service.Workers | None = None
) -> audit_service.VerifyResult:
    """The service's own verification of the whole audit trail (in ``workers``, if given)."""
    engine = create_async_engine(async_url(urls.service))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await audit_service.verify(session, workers=workers)
    finally:
        await engine.dispose()


async def tamper(owner_db: asyncpg.Connection, statement: str) -> None:
    """Run ``statement`` on the audit trail with its append-only triggers off."""
    await owner_db.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
    try:
        await owner_db.execute(statement)
    finally:
        await owner_db.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")


async def wait_for_lock_waiters(conn: asyncpg.Connection, count: int) -> None:
    """Until ``count`` lock requests wait in the database (10 s at most)."""
    deadline = time.monotonic() + 10
    waiting = 0
    while time.monotonic() < deadline:
        # pg_locks, not pg_stat_activity: the owner may not see other roles' wait events.
        waiting = await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {waiting} of {count} expected lock requests waiting")


async def fill_lookups(owner_db: asyncpg.Connection) -> None:
    """50,000 looks at 1,000 children (make bench's trail has tens per child), vacuumed as
    autovacuum keeps the trail: a sequential scan is never the cheap choice, and an
    index-only scan is costed as one (no heap visits)."""
    async with owner_db.transaction():
        # VACUUM marks pages all-visible only once their inserts' commit is flushed; the
        # test server commits asynchronously.
        await owner_db.execute("SET LOCAL synchronous_commit = on")
        await owner_db.execute(
            """
            INSERT INTO audit_events (seq, chain, kind, occurred_at, actor_id, actor,
              subject_nhs_number, unscheduled, detail, hash)
            SELECT g, 0, 'lookup', now() - (g % 7200) * interval '1 minute',
                   'user-' || (g % 500),
                   jsonb_build_object('sub', 'user-' || (g % 500), 'org_code', 'ORG' || (g % 50)),
                   lpad((g % 1000)::text, 10, '9'), g % 2 = 0, '{}'::jsonb, '\\x00'::bytea
            FROM generate_series(1, 50000) g
            """
        )
    await owner_db.execute("VACUUM ANALYZE audit_events")


async def generic_plan(owner_db: asyncpg.Connection, sql: str) -> str:
    """The plan of ``sql`` prepared and run on its generic plan, as the lookup pool runs
    every statement (so the NULLs given for its parameters never matter)."""
    parameters = len((await owner_db.prepare(sql)).get_parameters())
    await owner_db.execute("SET plan_cache_mode = force_generic_plan")
    await owner_db.execute(f"PREPARE lookup_statement AS {sql}")
    values = ", ".join(["NULL"] * parameters)
    rows = await owner_db.fetch(f"EXPLAIN EXECUTE lookup_statement({values})")
    return "\n".join(r[0] for r in rows)


@contextlib.asynccontextmanager
async def answering_500s(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``client``'s app that receives an unhandled error's 500 response, as a
    caller would, instead of the exception the test transport re-raises."""
    app = client.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as raw:
        yield raw
