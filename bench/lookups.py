"""L1, L2, L3 and C_lookup: the lookup against its ceiling, measured side by side.

Three servers run at once (only one is loaded at a time): the service on the full
dataset, the service on the same plans with an empty audit trail, and the ceiling on the
full dataset. Each repeat loads them in turn, so slow drift in a shared machine's load
hits all three alike and the ratios, taken pair by pair, stay honest.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from app.config import Settings
from app.db.session import DatabaseURLs
from bench import profiling, servers
from bench.load import Generator, Run
from bench.profiles import Profile
from bench.stats import Spread
from bench.targets import Verdict, judged
from bench.workload import Workload

L2_LOAD_SHARE = 0.5


@dataclass(frozen=True)
class LookupFigures:
    service: list[Run]  # L1: full service, full dataset, closed loop
    ceiling: list[Run]  # C_lookup, same data, same loop
    no_audit: list[Run]  # L3's reference: the service with an empty audit trail
    paced: list[Run]  # L2: paced at half the service's median throughput
    ceiling_paced: list[Run]  # the ceiling at that same rate: the machine's own latency floor
    paced_target_rps: float
    connections: int
    paced_connections: int

    @property
    def l1(self) -> Spread:
        return Spread.of([r.rps for r in self.service])

    @property
    def c_lookup(self) -> Spread:
        return Spread.of([r.rps for r in self.ceiling])

    @property
    def l3_reference(self) -> Spread:
        return Spread.of([r.rps for r in self.no_audit])

    @property
    def l1_ratio(self) -> Spread:
        return Spread.of([s.rps / c.rps for s, c in zip(self.service, self.ceiling, strict=True)])

    @property
    def l3_ratio(self) -> Spread:
        return Spread.of([s.rps / e.rps for s, e in zip(self.service, self.no_audit, strict=True)])

    @property
    def l2_rate(self) -> Spread:
        return Spread.of([r.rps for r in self.paced])

    @property
    def l2_p50(self) -> Spread:
        return Spread.of([r.p50_ms for r in self.paced])

    @property
    def l2_p99(self) -> Spread:
        return Spread.of([r.p99_ms for r in self.paced])

    @property
    def ceiling_p50(self) -> Spread:
        return Spread.of([r.p50_ms for r in self.ceiling_paced])

    @property
    def ceiling_p99(self) -> Spread:
        return Spread.of([r.p99_ms for r in self.ceiling_paced])

    def verdicts(self) -> list[Verdict]:
        ratio, l3, p50, p99 = self.l1_ratio, self.l3_ratio, self.l2_p50, self.l2_p99
        return [
            Verdict("L1", "lookup throughput, full service", "≥ 0.5 × `C_lookup`",
                    f"{ratio.text('{:.2f}', ' ×')} ({self.l1.text(unit=' /s')})",
                    judged(ratio.median >= 0.5)),
            Verdict("L2", "lookup latency at 50 % of the service's max throughput",
                    "p50 ≤ 5 ms, p99 ≤ 25 ms",
                    f"p50 {p50.text('{:.1f}', ' ms')}, p99 {p99.text('{:.1f}', ' ms')}",
                    judged(p50.median <= 5 and p99.median <= 25)),
            Verdict("L3", "lookup throughput with 10 M audit events vs an empty audit table",
                    "≥ 0.9 ×", l3.text("{:.2f}", " ×"), judged(l3.median >= 0.9)),
        ]  # fmt: skip

    def figure_rows(self) -> list[list[str]]:
        """Rows of the report's figures table: figure, what, median [min–max], ratio."""
        l2_share = self.l2_rate.median / self.l1.median
        return [
            ["`C_lookup`", "ceiling: raw ASGI + asyncpg, same work, same data, closed loop",
             self.c_lookup.text(unit=" /s"), "—"],
            ["L1", "service (`cpis serve`), plans + prior audit trail, closed loop",
             self.l1.text(unit=" /s"),
             f"{self.l1_ratio.text('{:.2f}', ' ×')} `C_lookup`"],
            ["L3 reference", "service, same plans, audit table starting empty, closed loop",
             self.l3_reference.text(unit=" /s"),
             f"L1 / this: {self.l3_ratio.text('{:.2f}', ' ×')}"],
            ["L2 rate", f"service, {self.paced_connections} connections with exponential "
             f"pauses, aiming at {self.paced_target_rps:,.0f} /s (50 % of L1)",
             self.l2_rate.text(unit=" /s"), f"{l2_share:.2f} × L1"],
            ["L2 p50", "latency at that rate", self.l2_p50.text("{:.1f}", " ms"), "—"],
            ["L2 p99", "latency at that rate", self.l2_p99.text("{:.1f}", " ms"), "—"],
            ["`C_lookup` p50", "the ceiling's latency at the same rate and pacing",
             self.ceiling_p50.text("{:.1f}", " ms"),
             f"L2 p50 / this: {self.l2_p50.ratio_to(self.ceiling_p50):.1f} ×"],
            ["`C_lookup` p99", "the ceiling's latency at the same rate and pacing",
             self.ceiling_p99.text("{:.1f}", " ms"),
             f"L2 p99 / this: {self.l2_p99.ratio_to(self.ceiling_p99):.1f} ×"],
        ]  # fmt: skip


async def analyze(*urls: str) -> None:
    for url in urls:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()


def measure(profile: Profile, generator: Generator, workload: Workload,
            full: DatabaseURLs, empty: DatabaseURLs, service_dir: Path,
            logs: Path, profile_to: Path | None = None) -> LookupFigures:  # fmt: skip
    settings = Settings()
    pool = settings.db_pool_size + settings.db_pool_max_overflow  # the service's own maximum
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        svc = stack.enter_context(
            servers.cpis_serve("service", full, service_dir, logs / "service.log")
        )
        svc0 = stack.enter_context(
            servers.cpis_serve(
                "service-no-audit", empty, service_dir, logs / "service-no-audit.log"
            )
        )
        ceil = stack.enter_context(servers.ceiling("ceiling", full, pool, logs / "ceiling.log"))

        def closed(url: str, seconds: float) -> Run:
            return generator.run(url, workload, seconds=seconds, connections=profile.connections)

        for server in (svc, svc0, ceil):
            closed(server.url, profile.warmup_s)
        # Statistics as a running service's database has them. The empty trail grew from
        # nothing during its warm-up, and the lookup's statements run on generic plans
        # (app/db/pool.py), planned from the statistics at hand: until autovacuum caught up
        # (a minute or more) the reference ran on plans made for an empty table, and L3's
        # reference was slower than it should be. ANALYZE also replans every connection.
        asyncio.run(analyze(full.owner, empty.owner))
        service, ceiling, no_audit = [], [], []
        for _ in range(profile.repeats):
            service.append(closed(svc.url, profile.duration_s))
            ceiling.append(closed(ceil.url, profile.duration_s))
            no_audit.append(closed(svc0.url, profile.duration_s))
        if profile_to is not None:  # one extra run, not part of any figure
            with profiling.recording(svc.pid, profile.duration_s, profile_to):
                closed(svc.url, profile.duration_s)
        target = L2_LOAD_SHARE * Spread.of([r.rps for r in service]).median
        # Each connection pauses Exp(mean) between requests; with many connections the
        # arrivals approximate a Poisson stream at `target` per second.
        pause_ms = 1000 * profile.paced_connections / target
        paced: list[Run] = []
        ceiling_paced: list[Run] = []
        for _ in range(profile.repeats):
            for server, runs in ((svc, paced), (ceil, ceiling_paced)):
                runs.append(generator.run(server.url, workload, seconds=profile.duration_s,
                                          connections=profile.paced_connections,
                                          mean_pause_ms=pause_ms))  # fmt: skip
    return LookupFigures(service, ceiling, no_audit, paced, ceiling_paced, target,
                         profile.connections, profile.paced_connections)  # fmt: skip
