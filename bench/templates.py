"""Cached datasets: loaded once into template databases, cloned for every run.

A template's name carries a key over the data version, the profile's sizes and the
schema's migration head, so a change to any of them loads afresh and an unchanged
re-run clones in seconds instead of reloading 10 M rows. A template is built under a
``_loading`` name and renamed only when complete, so an interrupted load is never used.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from app.config import Settings
from app.db.migrate import head_revision, upgrade_to_head
from app.patterns.rules import rules_from_settings
from bench import cluster as db
from bench.dataset import (
    EVENT_COLUMNS,
    People,
    TrailWriter,
    load_plans,
    load_prior_alerts,
    people,
)
from bench.profiles import Profile

DATA_VERSION = 2
_AUDIT_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename = 'audit_events' AND indexname NOT IN (
  SELECT conname FROM pg_constraint WHERE conrelid = 'audit_events'::regclass)
"""


@dataclass(frozen=True)
class Templates:
    full: str  # plans and the prior audit trail
    no_audit: str  # the same plans, an empty audit trail (L3)
    facts: dict[str, Any]  # sizes and load timings, stored with the template


def names(profile: Profile) -> tuple[str, str]:
    key_text = f"{DATA_VERSION}:{profile.plans}:{profile.events}:{profile.users}:{head_revision()}"
    key = hashlib.sha256(key_text.encode()).hexdigest()[:8]
    size = f"{profile.events // 1_000_000}m" if profile.events >= 1_000_000 else profile.name
    base = f"cpis_bench_{size}_{key}"
    return base, f"{base}_noaudit"


async def ensure(cluster: db.Cluster, profile: Profile, *, reload: bool = False) -> Templates:
    """The profile's two templates, loading whichever is missing (or both, if ``reload``)."""
    full, no_audit = names(profile)
    folk = people(profile)
    if reload:
        for name in (full, no_audit):
            await db.drop(cluster, name)
    if not await db.database_exists(cluster, no_audit):
        await _build(cluster, no_audit, lambda conn: _load_plans(conn, profile, folk), None)
    if not await db.database_exists(cluster, full):
        await _build(cluster, full, lambda conn: _load_trail(conn, profile, folk), no_audit)
    return Templates(
        full, no_audit, {**await _facts(cluster, no_audit), **await _facts(cluster, full)}
    )


async def _build(cluster: db.Cluster, name: str, load: Any, source: str | None) -> None:
    loading = f"{name}_loading"
    print(f"bench: loading template {name} (once per dataset version; minutes on the full profile)",
          flush=True)  # fmt: skip
    if source:
        await db.clone(cluster, source, loading)
    else:
        await db.drop(cluster, loading)
        admin = await cluster.admin()
        try:
            await admin.execute(f'CREATE DATABASE "{loading}" OWNER cpis_owner')
        finally:
            await admin.close()
        await asyncio.to_thread(upgrade_to_head, cluster.urls(loading).owner)
    conn = await asyncpg.connect(cluster.urls(loading).owner)
    try:
        facts = await load(conn)
        await conn.execute(f"COMMENT ON DATABASE \"{loading}\" IS '{orjson.dumps(facts).decode()}'")
    finally:
        await conn.close()
    admin = await cluster.admin()
    try:
        await admin.execute(f'ALTER DATABASE "{loading}" RENAME TO "{name}"')
    finally:
        await admin.close()


async def _facts(cluster: db.Cluster, name: str) -> dict[str, Any]:
    admin = await cluster.admin()
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
    finally:
        await admin.close()
    facts: dict[str, Any] = orjson.loads(comment) if comment else {}
    return facts


async def _load_plans(conn: asyncpg.Connection, profile: Profile, folk: People) -> dict[str, Any]:
    started = time.perf_counter()
    plans = await load_plans(conn, profile, folk)
    await conn.execute("VACUUM (FREEZE, ANALYZE) plans")
    await conn.execute("VACUUM (FREEZE, ANALYZE) local_authorities")
    children = await conn.fetchval("SELECT count(DISTINCT nhs_number) FROM plans")
    return {"plans": plans, "children": children, "plans_load_s": time.perf_counter() - started}


async def _load_trail(conn: asyncpg.Connection, profile: Profile, folk: People) -> dict[str, Any]:
    """COPY the trail without its secondary indexes, then build them once (far faster)."""
    codes = [
        r["code"] for r in await conn.fetch("SELECT code FROM local_authorities ORDER BY code")
    ]
    chains = int(await conn.fetchval("SELECT count(*) FROM audit_chain_heads"))
    indexes = await conn.fetch(_AUDIT_INDEXES)
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["indexname"]}"')
    writer = TrailWriter(profile, folk, codes, chains)
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "audit_events", records=writer.records(), columns=EVENT_COLUMNS
    )
    copied = time.perf_counter() - started
    print(f"bench: {profile.events:,} events copied in {copied:.0f} s; indexing", flush=True)
    await conn.execute("SET maintenance_work_mem = '512MB'")
    for index in indexes:
        await conn.execute(index["indexdef"])
    for chain, head in enumerate(writer.heads):
        if head is not None:
            await conn.execute(
                "UPDATE audit_chain_heads SET last_seq = $2, last_hash = $3 WHERE chain = $1",
                chain, head[0], head[1],
            )  # fmt: skip
    if profile.events:
        await conn.execute("SELECT setval('audit_events_seq', $1)", profile.events)
    alerts = await load_prior_alerts(conn, rules_from_settings(Settings()))
    for table in ("audit_events", "audit_chain_heads", "notifications", "attendance_alerts"):
        await conn.execute(f"VACUUM (FREEZE, ANALYZE) {table}")
    total = time.perf_counter() - started
    return {
        "events": profile.events,
        "prior_alerts": alerts,
        "events_copy_s": copied,
        "events_load_s": total,
        "events_per_s": profile.events / copied if copied else 0.0,
    }
