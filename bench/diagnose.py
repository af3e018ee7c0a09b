"""``python -m bench.diagnose [full|smoke]``: where L3's gap goes, lookup by lookup.

L3 compares the service on the full trail with the service on an empty one. This runs the
two side by side in alternating closed-loop windows, as ``make bench`` does, and for each
window prints what a lookup cost: WAL and full-page images, CPU of the service and of
PostgreSQL, and the database's time, page reads and hits per statement
(pg_stat_statements, loaded for this run only). Nothing is written to the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from bench import cluster as db
from bench import lookups, servers, workload
from bench.__main__ import prepare
from bench.dataset import people
from bench.load import Generator, ensure_wrk
from bench.profiles import PROFILES, Profile

_STATEMENTS = """
    SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query, calls,
           total_exec_time / calls * 1000 AS us, shared_blks_read::float / calls AS reads,
           shared_blks_hit::float / calls AS hits, wal_fpi::float / calls AS fpi
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = current_database() AND calls >= $1
    ORDER BY total_exec_time DESC LIMIT 6
    """
_WAL = "SELECT wal_fpi, wal_bytes FROM pg_stat_wal"
# Pages the trail's indexes grew by: nearly all from leaf splits.
_INDEX_PAGES = """
    SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) / current_setting('block_size')::int
    FROM pg_index WHERE indrelid = 'audit_events'::regclass
    """


def cpu_seconds(root: int) -> float:
    """User and system CPU of ``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _counters(conn: asyncpg.Connection) -> tuple[int, int, int]:
    row = await conn.fetchrow(_WAL)
    assert row is not None
    return int(row["wal_fpi"]), int(row["wal_bytes"]), int(await conn.fetchval(_INDEX_PAGES))


async def _superuser(cluster: db.Cluster, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(cluster.admin_url, database=database)


async def _reset(cluster: db.Cluster, database: str) -> tuple[int, int, int]:
    conn = await _superuser(cluster, database)
    try:
        if "pg_stat_statements" not in await conn.fetchval("SHOW shared_preload_libraries"):
            raise SystemExit("the bench cluster was already running without pg_stat_statements:"
                             " stop the other bench process and run this again")  # fmt: skip
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        return await _counters(conn)
    finally:
        await conn.close()


async def _read(
    cluster: db.Cluster, database: str, min_calls: int
) -> tuple[tuple[int, int, int], list[Any]]:
    conn = await _superuser(cluster, database)
    try:
        return await _counters(conn), list(await conn.fetch(_STATEMENTS, min_calls))
    finally:
        await conn.close()


def _window(cluster: db.Cluster, generator: Generator, load: workload.Workload,
            profile: Profile, database: str, url: str, pids: tuple[int, int],
            label: str) -> float:  # fmt: skip
    """One closed-loop window on the service at ``url``; prints its costs per lookup."""
    fpi0, wal0, pages0 = asyncio.run(_reset(cluster, database))
    cpu0 = [cpu_seconds(pid) for pid in pids]
    run = generator.run(url, load, seconds=profile.duration_s, connections=profile.connections)
    service, postgres = (1000 * (cpu_seconds(p) - was) for p, was in zip(pids, cpu0, strict=True))
    (fpi1, wal1, pages1), statements = asyncio.run(
        _read(cluster, database, max(1, run.requests // 20))
    )
    n = max(1, run.requests)
    print(f"{label}: {run.rps:.0f} /s; per lookup: FPI {(fpi1 - fpi0) / n:.2f}, "
          f"WAL {(wal1 - wal0) / n / 1024:.1f} KB, "
          f"new index pages {(pages1 - pages0) / n:.2f}, CPU ms: service {service / n:.3f}, "
          f"PostgreSQL {postgres / n:.3f}")  # fmt: skip
    for s in statements:
        print(f"  {s['calls']:7d} calls {s['us']:7.0f} µs, reads {s['reads']:.2f}, "
              f"hits {s['hits']:5.1f}, FPI {s['fpi']:.2f}: {s['query']}")  # fmt: skip
    return run.rps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnose", description=__doc__)
    parser.add_argument("mode", choices=sorted(PROFILES), nargs="?", default="full")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, help="seconds per window")
    args = parser.parse_args(argv)
    profile = PROFILES[args.mode]
    profile = replace(profile, duration_s=args.duration or profile.duration_s)
    if os.environ.get("DATABASE_URL"):
        parser.error("runs on the embedded bench cluster only (it reads PostgreSQL's CPU time)")
    generator = Generator(ensure_wrk(required=profile.name == "full"))
    server, cluster = db.start_embedded(
        profile.data_dir, extra={"shared_preload_libraries": "pg_stat_statements"}
    )
    try:
        _, full, empty = asyncio.run(prepare(cluster, profile, reload=False))
        service_dir = profile.data_dir / "service"
        load = asyncio.run(workload.build(profile, people(profile), full.owner, service_dir))
        postmaster = int((profile.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        logs = profile.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        rates: dict[str, list[float]] = {"full": [], "empty": []}
        with contextlib.ExitStack() as stack:
            targets = {
                name: (urls, stack.enter_context(
                    servers.cpis_serve(f"service-{name}", urls, service_dir,
                                       logs / f"diagnose-{name}.log")))
                for name, urls in (("full", full), ("empty", empty))
            }  # fmt: skip
            for _, svc in targets.values():
                generator.run(svc.url, load, seconds=profile.warmup_s,
                              connections=profile.connections)  # fmt: skip
            asyncio.run(lookups.analyze(full.owner, empty.owner))
            for round_ in range(args.rounds):
                for name, (urls, svc) in targets.items():
                    database = unquote(urlsplit(urls.owner).path.lstrip("/"))
                    rates[name].append(_window(cluster, generator, load, profile, database,
                                               svc.url, (svc.pid, postmaster),
                                               f"round {round_ + 1}, {name} trail"))  # fmt: skip
        ratios = [f / e for f, e in zip(rates["full"], rates["empty"], strict=True)]
        print(f"full / empty, window by window: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.2f}")  # fmt: skip
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
