"""Load generators in their own process: wrk with bench/lookup.lua, or an httpx fallback.

wrk is the real instrument. The fallback exists so the smoke run (CI) works on a machine
where wrk cannot be installed; its figures are labelled as such and never used for a
full report.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.workload import FLAGGED_SHARE, Workload

LUA = Path(__file__).with_name("lookup.lua")


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LoadError(RuntimeError):
    pass


def ensure_wrk(*, required: bool) -> str | None:
    """wrk's path; when required, installed with apt-get if missing, else None if missing.

    The smoke run (CI) never installs anything: without wrk it uses the httpx fallback.
    """
    found = shutil.which("wrk")
    if found or not required:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("bench: wrk is missing; installing it with apt-get install -y wrk", file=sys.stderr)
        for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
            subprocess.run(command, check=False, stdin=subprocess.DEVNULL)  # noqa: S603
        found = shutil.which("wrk")
    if found:
        return found
    raise LoadError(
        "wrk is not installed and `apt-get install -y wrk` did not install it (needs root and "
        "a Debian/Ubuntu package source). Install wrk and run the bench again."
    )


def wrk(binary: str, url: str, workload: Workload, *, seconds: float, connections: int,
        mean_pause_ms: float = 0.0) -> Run:  # fmt: skip
    command = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(LUA), url, "--",
               str(workload.path), f"{mean_pause_ms:.3f}", str(FLAGGED_SHARE)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            raw = json.loads(line[len("BENCH ") :])
            return Run(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                errors=raw["errors"] + raw["status_errors"],
                p50_ms=raw["p50_us"] / 1000,
                p90_ms=raw["p90_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["max_us"] / 1000,
            )
    raise LoadError(f"wrk gave no result (exit {done.returncode}): {done.stderr[-2000:]}")


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


async def _httpx_run(url: str, workload: Workload, seconds: float, connections: int,
                     mean_pause_ms: float) -> Run:  # fmt: skip
    rng = random.Random()  # noqa: S311 - load shape, not security
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            if mean_pause_ms:
                await asyncio.sleep(rng.expovariate(1000 / mean_pause_ms))
            pool = workload.flagged if rng.random() < FLAGGED_SHARE else workload.unflagged
            body = {"nhs_number": rng.choice(pool), "care_setting": "emergency-department"}
            headers = {"Authorization": f"Bearer {rng.choice(workload.tokens)}"}
            started = time.perf_counter()
            response = await client.post("/v1/lookups", json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    ordered = sorted(t * 1000 for t in latencies)
    return Run(len(ordered), time.perf_counter() - started, errors,
               _percentile(ordered, 0.5), _percentile(ordered, 0.9), _percentile(ordered, 0.99),
               ordered[-1] if ordered else 0.0)  # fmt: skip


def httpx_load(url: str, workload: Workload, *, seconds: float, connections: int,
               mean_pause_ms: float = 0.0) -> Run:  # fmt: skip
    return asyncio.run(_httpx_run(url, workload, seconds, connections, mean_pause_ms))


class Generator:
    """One interface over both generators; refuses runs that saw errors."""

    def __init__(self, wrk_binary: str | None) -> None:
        self.wrk_binary = wrk_binary
        self.name = "wrk" if wrk_binary else "httpx (wrk unavailable)"

    def run(self, url: str, workload: Workload, *, seconds: float, connections: int,
            mean_pause_ms: float = 0.0) -> Run:  # fmt: skip
        if self.wrk_binary:
            result = wrk(self.wrk_binary, url, workload, seconds=seconds,
                         connections=connections, mean_pause_ms=mean_pause_ms)  # fmt: skip
        else:
            result = httpx_load(url, workload, seconds=seconds, connections=connections,
                                mean_pause_ms=mean_pause_ms)  # fmt: skip
        if result.errors or not result.requests:
            raise LoadError(f"{url}: {result.errors} errors in {result.requests} requests")
        return result
