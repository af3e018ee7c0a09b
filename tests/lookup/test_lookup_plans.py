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
from tests.support import fill_lookups, generic_plan

# Tables a lookup reads by key; a sequential scan of any of them grows with the service.
KEYED_TABLES = ("audit_events", "plans", "notifications", "attendance_alerts")


@pytest.mark.parametrize("name", ["quick", "open", "RECORD"])
async def test_the_lookups_generic_plans_read_by_index(
    owner_db: asyncpg.Connection, settings: Settings, name: str
) -> None:
    await fill_lookups(owner_db)
    sql = {"quick": quick(settings.harvest_window_seconds), "open": OPEN, "RECORD": RECORD}[name]
    plan = await generic_plan(owner_db, sql)
    for table in KEYED_TABLES:
        assert f"Seq Scan on {table}" not in plan, plan
    assert "Index" in plan


async def test_a_flagged_childs_history_is_read_from_the_index_alone(
    owner_db: asyncpg.Connection,
) -> None:
    # A child's looks lie scattered over the whole trail: read from the heap, each listed
    # look cost a random page read (migration 20261128_09). Its history, its 24-hour check,
    # the same-user check and the attendance-pattern looks must all be index-only.
    await fill_lookups(owner_db)
    plan = await generic_plan(owner_db, RECORD)
    reads = [line for line in plan.splitlines() if "Scan" in line and "on audit_events" in line]
    assert len(reads) >= 4, plan
    index_only = re.compile(r"Index Only Scan (Backward )?using ix_audit_events_lookups_by_subject")
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
