"""``python -m bench.stalls [full|smoke]``: where L4's tail goes.

Runs L4 as ``make bench`` does (bench/uploads.py: C_copy, an upload alone, then lookups
paced idle and while uploads run back to back) and meanwhile samples what every
PostgreSQL backend is doing (pg_stat_activity, every 10 ms) and the CPU of every process
(/proc, every 100 ms). It prints the service's own lookup latencies (its request log) by
what the upload was doing at the time, with the lookups' wait events and each kind of
process's CPU in each phase, then every moment when ten or more backends queued for the
WAL at once. Nothing is written to the report.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from bench import cluster as db
from bench import uploads, workload
from bench.__main__ import prepare
from bench.dataset import people
from bench.load import Generator, ensure_wrk
from bench.profiles import PROFILES

_ACTIVE = """
    SELECT backend_type, wait_event, left(ltrim(query, E' \n\t'), 40) AS query
    FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()
    """
# What the upload's backend is running, by the start of its statement (app/ingest).
_UPLOAD_STEPS = (
    ('COPY "upload_staging"', "staging COPY"),
    ("INSERT INTO plans", "merge: insert new plans"),
    ("UPDATE plans", "merge: update, withdraw"),
    ("ANALYZE upload_staging", "merge: analyze staging"),
    ('COPY "plans"', "C_copy (bare COPY, no upload)"),
)
NOT_IN_SQL = "receiving and checking the file"
NO_UPLOAD = "no upload"
WAL_WAITS = ("WALWrite", "WalSync", "WalWrite")
QUEUE = 10  # backends waiting for the WAL at once that make a stall worth listing


@dataclass
class Samples:
    backends: list[tuple[float, list[tuple[str, str | None, str]]]] = field(default_factory=list)
    cpu: list[tuple[float, dict[int, tuple[str, int]]]] = field(default_factory=list)


def _process_kind(pid: int) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if comm == "postgres" or command.startswith("postgres"):
        return "postgres"
    if "multiprocessing" in command:
        return "parse worker"
    if " serve " in command:
        return "service"
    if comm == "wrk":
        return "wrk"
    return None


def _cpu_ticks(kinds: dict[int, str | None]) -> dict[int, tuple[str, int]]:
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid not in kinds:
            kinds[pid] = _process_kind(pid)
        kind = kinds[pid]
        if kind is None:
            continue
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = (kind, int(fields[11]) + int(fields[12]))
    return ticks


def _sample(admin_url: str, samples: Samples, stop: threading.Event) -> None:
    async def backends() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            while not stop.is_set():
                rows = await conn.fetch(_ACTIVE)
                samples.backends.append((time.time(), [tuple(r) for r in rows]))
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    def processes() -> None:
        kinds: dict[int, str | None] = {}
        while not stop.is_set():
            samples.cpu.append((time.time(), _cpu_ticks(kinds)))
            time.sleep(0.1)

    thread = threading.Thread(target=processes, daemon=True)
    thread.start()
    asyncio.run(backends())
    thread.join()


def _requests(log: Path, offset: int) -> list[tuple[str, float, float]]:
    """(route, start, end) of every request the service logged after ``offset``."""
    found = []
    with log.open("rb") as f:
        f.seek(offset)
        for line in f:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if "duration_ms" in entry:
                    end = datetime.fromisoformat(entry["time"]).timestamp()
                    found.append((entry["route"], end - entry["duration_ms"] / 1000, end))
    return found


def _step(rows: list[tuple[str, str | None, str]]) -> str:
    for backend_type, _, query in rows:
        if backend_type == "client backend":
            for start, name in _UPLOAD_STEPS:
                if query.startswith(start):
                    return name
    return NOT_IN_SQL


def report(samples: Samples, requests: list[tuple[str, float, float]]) -> None:
    upload_spans = [(s, e) for route, s, e in requests if route.startswith("/v1/uploads")]
    times = [t for t, _ in samples.backends]

    def phase(at: float) -> str:
        i = min(bisect.bisect_left(times, at), len(times) - 1)
        step = _step(samples.backends[i][1])
        if step == NOT_IN_SQL and not any(s <= at <= e for s, e in upload_spans):
            return NO_UPLOAD
        return step

    latencies: dict[str, list[float]] = collections.defaultdict(list)
    for route, start, end in requests:
        if route == "/v1/lookups" and times and times[0] <= start:
            latencies[phase((start + end) / 2)].append(1000 * (end - start))
    # The lookups' backends: client backends not running one of the upload's statements.
    waits: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    sampled: collections.Counter[str] = collections.Counter()
    for at, rows in samples.backends:
        step = phase(at)
        sampled[step] += 1
        for row in rows:
            if row[0] == "client backend" and _step([row]) == NOT_IN_SQL:
                waits[step][row[1] or "CPU"] += 1
    cores: dict[str, dict[str, float]] = collections.defaultdict(
        lambda: collections.defaultdict(float)
    )
    seconds: dict[str, float] = collections.defaultdict(float)
    tick = os.sysconf("SC_CLK_TCK")
    for (t0, before), (t1, after) in zip(samples.cpu, samples.cpu[1:], strict=False):
        step = phase((t0 + t1) / 2)
        seconds[step] += t1 - t0
        for pid, (kind, ticks) in after.items():
            if pid in before:
                cores[step][kind] += (ticks - before[pid][1]) / tick

    print("lookups by what the upload was doing (the service's own durations):")
    for step, values in sorted(latencies.items(), key=lambda kv: -len(kv[1])):
        values.sort()
        n = len(values)
        top = ", ".join(f"{w} {c / sampled[step]:.2f}" for w, c in waits[step].most_common(4))
        used = sorted(cores[step].items(), key=lambda kv: -kv[1])
        cpu = ", ".join(f"{kind} {v / max(seconds[step], 1e-9):.2f}" for kind, v in used)
        print(f"  {step}: {n} lookups, p50 {values[n // 2]:.1f} ms, p99 "
              f"{values[min(n - 1, int(n * 0.99))]:.1f} ms, max {values[-1]:.0f} ms")  # fmt: skip
        print(f"      lookups' backends, average number in each wait: {top}")
        print(f"      CPU, cores: {cpu}")
    print(f"moments when {QUEUE} or more backends waited for the WAL:")
    episode: list[float] = []
    for at, rows in [*samples.backends, (float("inf"), [])]:
        queued = sum(1 for _, wait, _ in rows if wait in WAL_WAITS)
        if queued >= QUEUE:
            episode.append(at)
        elif episode:
            print(f"  {datetime.fromtimestamp(episode[0]):%H:%M:%S.%f}"[:-3]
                  + f" for {1000 * (episode[-1] - episode[0]) + 10:.0f} ms, during "
                  f"{phase(episode[0])}")  # fmt: skip
            episode = []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stalls", description=__doc__)
    parser.add_argument("mode", choices=sorted(PROFILES), nargs="?", default="full")
    args = parser.parse_args(argv)
    profile = PROFILES[args.mode]
    if os.environ.get("DATABASE_URL"):
        parser.error("runs on the embedded bench cluster only (it reads PostgreSQL's CPU time)")
    generator = Generator(ensure_wrk(required=profile.name == "full"))
    server, cluster = db.start_embedded(profile.data_dir)
    samples, stop = Samples(), threading.Event()
    try:
        _, full, _ = asyncio.run(prepare(cluster, profile, reload=False))
        service_dir = profile.data_dir / "service"
        load = asyncio.run(workload.build(profile, people(profile), full.owner, service_dir))
        logs = profile.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / "uploads.log"
        offset = log.stat().st_size if log.exists() else 0
        sampler = threading.Thread(target=_sample, args=(cluster.admin_url, samples, stop))
        sampler.start()
        try:
            figures = uploads.measure(profile, generator, load, full, service_dir, logs)
        finally:
            stop.set()
            sampler.join()
        for verdict in figures.verdicts():
            print(f"{verdict.id}: {verdict.outcome}: {verdict.measured}")
        report(samples, _requests(log, offset))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
