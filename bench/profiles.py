"""How big and how long: the full England-sized run and the CI smoke run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Profile:
    name: str
    plans: int
    events: int
    users: int  # distinct health users in the prior audit trail
    # Of those, how many the load generator signs in as. Spread over users and organisations
    # as national traffic is: the harvest check counts each caller's lookups in its window,
    # so a few very busy tokens would make every lookup count thousands of rows, a load no
    # real desk produces and the harvest limits would refuse.
    tokens: int
    data_dir: Path
    duration_s: float  # one wrk measurement
    warmup_s: float
    repeats: int
    connections: int  # closed loop, max throughput
    paced_connections: int  # L2: many mostly idle connections approximate an open loop
    upload_rows: int  # U1, U2, L4: one authority's file
    upload_lookup_rate: float  # L4: lookups per second, paced, idle and during the upload
    history_page_size: int  # H1: page 1 against page 100 at this size
    history_searches: int  # H1: timed searches per page per repeat

    @property
    def label(self) -> str:
        return f"{self.plans:,} plans, {self.events:,} prior audit events"


FULL = Profile(
    name="full",
    plans=200_000,
    events=10_000_000,
    users=5_000,
    tokens=2_000,
    data_dir=ROOT / ".cpis" / "bench",
    duration_s=15,
    warmup_s=10,  # at least one request per token (lookup.lua takes them in turn)
    repeats=3,
    connections=32,
    paced_connections=64,
    upload_rows=200_000,
    upload_lookup_rate=100,
    history_page_size=100,
    history_searches=300,
)

SMOKE = Profile(
    name="smoke",
    plans=2_000,
    events=20_000,
    users=200,
    tokens=50,
    data_dir=ROOT / ".cpis" / "bench-smoke",
    duration_s=1.5,
    warmup_s=0.5,
    repeats=1,
    connections=8,
    paced_connections=8,
    upload_rows=5_000,
    upload_lookup_rate=20,
    history_page_size=10,
    history_searches=20,
)

PROFILES = {p.name: p for p in (FULL, SMOKE)}
