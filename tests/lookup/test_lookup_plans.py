"""The lookup's statements run on generic plans (app/db/pool.py): those plans must stay on
their indexes, whatever the parameters turn out to be."""

from __future__ import annotations

import re

import asyncpg
import pytest

from app.config import Settings
from app.db.pool import create_pool
from app.db.session import DatabaseURLs
from app.lookup.repository import OPEN, RECORD, quick

# Tables a lookup reads by key; a sequential scan of any of them grows with the service.
KEYED_TABLES = ("audit_events", "plans", "notifications", "attendance_alerts")


async def _fill(owner_db: asyncpg.Connection) -> None:
    """Enough rows that a sequential scan is never the cheap choice."""
    await owner_db.execute(
        """
        INSERT INTO audit_events (seq, chain, kind, occurred_at, actor_id, actor,
          subject_nhs_number, unscheduled, detail, hash)
        SELECT g, 0, 'lookup', now() - (g % 7200) * interval '1 minute', 'user-' || (g % 500),
               jsonb_build_object('sub', 'user-' || (g % 500), 'org_code', 'ORG' || (g % 50)),
               lpad((g % 20000)::text, 10, '9'), g % 2 = 0, '{}'::jsonb, '\\x00'::bytea
        FROM generate_series(1, 50000) g
        """
    )
    await owner_db.execute("VACUUM ANALYZE audit_events")


async def _generic_plan(owner_db: asyncpg.Connection, sql: str) -> str:
    """As the lookup pool runs ``sql``: prepared, on the generic plan (so the NULLs never
    matter)."""
    parameters = len((await owner_db.prepare(sql)).get_parameters())
    await owner_db.execute("SET plan_cache_mode = force_generic_plan")
    await owner_db.execute(f"PREPARE lookup_statement AS {sql}")
    values = ", ".join(["NULL"] * parameters)
    rows = await owner_db.fetch(f"EXPLAIN EXECUTE lookup_statement({values})")
    return "\n".join(r[0] for r in rows)


@pytest.mark.parametrize("name", ["quick", "open", "RECORD"])
async def test_the_lookups_generic_plans_read_by_index(
    owner_db: asyncpg.Connection, settings: Settings, name: str
) -> None:
    await _fill(owner_db)
    sql = {"quick": quick(settings.harvest_window_seconds), "open": OPEN, "RECORD": RECORD}[name]
    plan = await _generic_plan(owner_db, sql)
    for table in KEYED_TABLES:
        assert f"Seq Scan on {table}" not in plan, plan
    assert "Index" in plan


async def test_a_flagged_childs_history_is_read_from_the_index_alone(
    owner_db: asyncpg.Connection,
) -> None:
    # A child's looks lie scattered over the whole trail: read from the heap, each listed
    # look cost a random page read (migration 20261128_09). Its history, its 24-hour check,
    # the same-user check and the attendance-pattern looks must all be index-only.
    await _fill(owner_db)
    plan = await _generic_plan(owner_db, RECORD)
    reads = [line for line in plan.splitlines() if "Scan" in line and "on audit_events" in line]
    assert len(reads) >= 4, plan
    index_only = re.compile(r"Index Only Scan (Backward )?using ix_audit_events_unscheduled_access")
    for read in reads:
        assert index_only.search(read), plan


async def test_the_lookup_pool_plans_each_statement_once(
    database: DatabaseURLs, settings: Settings
) -> None:
    pool = await create_pool(settings, database)
    try:
        assert await pool.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
    finally:
        await pool.close()
