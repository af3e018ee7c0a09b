"""H1 and C_history: one busy child's access history on the full audit trail.

Before measuring, one child is given a long history by appending chained lookups to the
trail (``bench/load_audit_events.py``, the same hashing the service does, so the trail
still verifies), enough for a page 100. Then, each repeat: page 1 and page 100 through
``cpis serve`` over HTTP as an auditor, one search at a time, alternating (each search
writes its own audit row and commits, as in production), and the same page queries run
bare through asyncpg (C_history).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from app.auth import dev_tokens
from app.auth.keys import ensure_dev_key
from app.config import DEV_AUDIENCE, DEV_ISSUER
from app.db.session import DatabaseURLs
from app.history import repository as history_repository
from app.history.service import encode_cursor
from bench import servers
from bench.load_audit_events import load as append_events
from bench.load_audit_events import test_numbers
from bench.profiles import Profile
from bench.stats import Spread
from bench.targets import Verdict, judged

DEEP_PAGE = 100
SEED = 7  # load_audit_events draws the busy child's number first from Random(SEED)
WARMUP = 20


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(_percentile(ms, 0.5), _percentile(ms, 0.99))


@dataclass(frozen=True)
class HistoryFigures:
    looks: int  # the busy child's lookups
    page_size: int
    page1: list[Latency]
    deep: list[Latency]
    bare_page1: list[Latency]
    bare_deep: list[Latency]

    def _p(self, runs: list[Latency], which: str) -> Spread:
        return Spread.of([getattr(r, which) for r in runs])

    @property
    def deep_ratio(self) -> Spread:
        return Spread.of([d.p50_ms / p.p50_ms for d, p in zip(self.deep, self.page1, strict=True)])

    def verdicts(self) -> list[Verdict]:
        p99 = Spread.of(
            [max(a.p99_ms, b.p99_ms) for a, b in zip(self.page1, self.deep, strict=True)]
        )
        return [
            Verdict(
                "H1",
                "access-history search for one child, 10 M events",
                "p99 ≤ 20 ms; page 100 within 1.2 × page 1",
                f"p99 {p99.text('{:.1f}', ' ms')} (worse of the two pages); page {DEEP_PAGE} p50 "
                f"{self.deep_ratio.text('{:.2f}', ' ×')} page 1",
                judged(p99.median <= 20 and self.deep_ratio.median <= 1.2),
            )
        ]

    def figure_rows(self) -> list[list[str]]:
        rows = []
        for label, http, bare in (
            ("page 1", self.page1, self.bare_page1),
            (f"page {DEEP_PAGE}", self.deep, self.bare_deep),
        ):
            for which in ("p50_ms", "p99_ms"):
                name = which.split("_")[0]
                rows.append(
                    [
                        f"H1 {label} {name}",
                        f"search through `cpis serve` (HTTP, auditor, "
                        f"{self.page_size} per page, child with {self.looks:,} lookups)",
                        self._p(http, which).text("{:.2f}", " ms"),
                        f"{self._p(http, which).ratio_to(self._p(bare, which)):.1f} × `C_history`",
                    ]
                )
                rows.append(
                    [
                        f"`C_history` {label} {name}",
                        "the same page query, bare asyncpg",
                        self._p(bare, which).text("{:.2f}", " ms"),
                        "—",
                    ]
                )
        return rows


def busy_child() -> str:
    return test_numbers(1, random.Random(SEED))[0]  # noqa: S311 - as load_audit_events draws


async def _deep_cursor(owner_url: str, child: str, page_size: int) -> tuple[int, int]:
    """(the child's lookups, the seq of the last look before page DEEP_PAGE, newest first:
    the position its cursor holds)."""
    conn = await asyncpg.connect(owner_url)
    try:
        looks = await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE subject_nhs_number = $1 AND kind = 'lookup'",
            child,
        )
        seq = await conn.fetchval(
            "SELECT seq FROM audit_events WHERE subject_nhs_number = $1 AND kind = 'lookup'"
            " ORDER BY occurred_at DESC, seq DESC OFFSET $2 LIMIT 1",
            child,
            (DEEP_PAGE - 1) * page_size - 1,
        )
    finally:
        await conn.close()
    if seq is None:
        raise RuntimeError(f"the busy child has {looks} lookups, too few for page {DEEP_PAGE}")
    return int(looks), int(seq)


async def bare_pages(
    owner_url: str, child: str, before: int, page_size: int, searches: int
) -> tuple[Latency, Latency]:
    """C_history: the service's page queries (page 1, then below the deep cursor)."""
    first = history_repository.page_query(before=False, since=False, until=False)
    deeper = history_repository.page_query(before=True, since=False, until=False)
    conn = await asyncpg.connect(owner_url)
    timings: tuple[list[float], list[float]] = ([], [])
    try:
        for i in range(WARMUP + searches):
            for times, sql, args in (
                (timings[0], first, (child, page_size + 1)),
                (timings[1], deeper, (child, page_size + 1, before)),
            ):
                started = time.perf_counter()
                rows = await conn.fetch(sql, *args)
                if i >= WARMUP:
                    times.append(time.perf_counter() - started)
                assert len(rows) == page_size + 1
    finally:
        await conn.close()
    return Latency.of(timings[0]), Latency.of(timings[1])


def _http_pages(
    url: str, token: str, child: str, cursor: str, page_size: int, searches: int
) -> tuple[Latency, Latency]:
    headers = {"Authorization": f"Bearer {token}"}
    bodies = (
        {"nhs_number": child, "limit": page_size},
        {"nhs_number": child, "limit": page_size, "cursor": cursor},
    )
    timings: tuple[list[float], list[float]] = ([], [])
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for i in range(WARMUP + searches):
            for times, body in zip(timings, bodies, strict=True):
                started = time.perf_counter()
                response = client.post("/v1/access-history/search", json=body)
                took = time.perf_counter() - started
                if response.status_code != 200 or len(response.json()["items"]) != page_size:
                    raise RuntimeError(f"history search: {response.status_code}")
                if i >= WARMUP:
                    times.append(took)
    return Latency.of(timings[0]), Latency.of(timings[1])


def measure(profile: Profile, full: DatabaseURLs, service_dir: Path, logs: Path) -> HistoryFigures:
    size = profile.history_page_size
    child = busy_child()
    asyncio.run(append_events(full.owner, DEEP_PAGE * size + size, children=1, seed=SEED))
    looks, deep_seq = asyncio.run(_deep_cursor(full.owner, child, size))
    key = ensure_dev_key(service_dir / "dev-signing-key.pem")
    token = dev_tokens.mint_token(
        key, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, claims=dev_tokens.auditor_claims()
    )
    runs: dict[str, list[Latency]] = {"p1": [], "deep": [], "bare1": [], "bare_deep": []}
    with servers.cpis_serve("service-history", full, service_dir, logs / "history.log") as svc:
        for _ in range(profile.repeats):
            page1, deep = _http_pages(
                svc.url, token, child, encode_cursor(deep_seq), size, profile.history_searches
            )
            bare1, bare_deep = asyncio.run(
                bare_pages(full.owner, child, deep_seq, size, profile.history_searches)
            )
            runs["p1"].append(page1)
            runs["deep"].append(deep)
            runs["bare1"].append(bare1)
            runs["bare_deep"].append(bare_deep)
    return HistoryFigures(looks, size, runs["p1"], runs["deep"], runs["bare1"], runs["bare_deep"])
