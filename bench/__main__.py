"""``python -m bench [full|smoke]``: load (or reuse) the dataset, measure, write the report."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from app.audit import service as audit
from app.config import Settings
from app.db.session import DatabaseURLs, create_engine, create_sessionmaker, transaction
from bench import cluster as db
from bench import history, lookups, machine, templates, uploads, verify, workload
from bench.dataset import people
from bench.load import Generator, LoadError, ensure_wrk
from bench.profiles import PROFILES, ROOT, Profile
from bench.report import Report, render


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("mode", choices=sorted(PROFILES), nargs="?", default="full")
    parser.add_argument("--report", type=Path, help="where to write the report")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument("--reload", action="store_true", help="rebuild the cached dataset")
    parser.add_argument(
        "--profile", action="store_true", help="also record the service with py-spy (speedscope)"
    )
    return parser.parse_args(argv)


async def verify_trail(urls: DatabaseURLs) -> str:
    """The loaded trail must verify exactly as the service's own check sees it."""
    engine = create_engine(Settings(), urls)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            result = await audit.verify(session)
    finally:
        await engine.dispose()
    if not result.ok:
        raise RuntimeError(f"the loaded audit trail does not verify: {result.reason}")
    return f"{result.events_checked:,} events verified by `app.audit.service.verify`"


async def prepare(
    cluster: db.Cluster, profile: Profile, reload: bool
) -> tuple[dict[str, object], DatabaseURLs, DatabaseURLs]:
    await db.ensure_bench_roles(cluster)
    started = time.perf_counter()
    cached = templates.names(profile)[0]
    was_cached = await db.database_exists(cluster, cached) and not reload
    found = await templates.ensure(cluster, profile, reload=reload)
    prepared = time.perf_counter() - started
    run_full, run_empty = f"cpis_bench_run_{profile.name}", f"cpis_bench_run_{profile.name}_noaudit"
    started = time.perf_counter()
    await db.clone(cluster, found.full, run_full)
    cloned = time.perf_counter() - started
    await db.clone(cluster, found.no_audit, run_empty)
    await db.settle(cluster)
    source = (f"cloned from cached template `{found.full}` in {cloned:.1f} s" if was_cached
              else f"loaded into template `{found.full}` in {prepared:.1f} s, cloned in "
              f"{cloned:.1f} s")  # fmt: skip
    return {**found.facts, "source": source}, cluster.urls(run_full), cluster.urls(run_empty)


def run(args: argparse.Namespace) -> int:
    profile = PROFILES[args.mode]
    profile = replace(profile, repeats=args.repeats or profile.repeats,
                      duration_s=args.duration or profile.duration_s)  # fmt: skip
    report_path = args.report or (ROOT / "docs" / "benchmarks.md" if profile.name == "full"
                                  else profile.data_dir / "benchmarks.md")  # fmt: skip
    generator = Generator(ensure_wrk(required=profile.name == "full"))
    server = None
    if os.environ.get("DATABASE_URL"):
        cluster = db.external(os.environ["DATABASE_URL"], profile.data_dir)
    else:
        server, cluster = db.start_embedded(profile.data_dir)
    try:
        dataset, full, empty = asyncio.run(prepare(cluster, profile, args.reload))
        notes = []
        if profile.name == "smoke":
            notes.append(asyncio.run(verify_trail(full)))
        service_dir = profile.data_dir / "service"
        load = asyncio.run(workload.build(profile, people(profile), full.owner, service_dir))
        facts = machine.facts(asyncio.run(cluster.server_version()), generator.wrk_binary)
        ticks = machine.cpu_ticks()
        flame = profile.data_dir / "service-profile.speedscope.json" if args.profile else None
        figures = lookups.measure(profile, generator, load, full, empty, service_dir,
                                  profile.data_dir / "logs", flame)  # fmt: skip
        if flame is not None:
            notes.append(f"py-spy profile of the service under the closed loop: `{flame}`")
        logs = profile.data_dir / "logs"
        searched = history.measure(profile, full, service_dir, logs)
        uploaded = uploads.measure(profile, generator, load, full, service_dir, logs)
        verified = verify.measure(profile, full, service_dir)
        facts["load average at end"] = machine.load_average()
        facts["CPU time stolen by the hypervisor during the run"] = machine.steal_share(ticks)
    finally:
        if server is not None:
            server.stop()
    report = Report(profile, generator.name, facts, dataset,
                    [figures, uploaded, searched, verified], notes)  # fmt: skip
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(render(report))
    for verdict in report.verdicts():
        print(f"{verdict.id}: {verdict.outcome}: {verdict.measured}")
    print(f"report: {report_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(parse(argv))
    except LoadError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
