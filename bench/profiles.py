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
    tokens: int  # of those, how many the load generator signs in as
    data_dir: Path
    duration_s: float  # one wrk measurement
    warmup_s: float
    repeats: int
    connections: int  # closed loop, max throughput
    paced_connections: int  # L2: many mostly idle connections approximate an open loop

    @property
    def label(self) -> str:
        return f"{self.plans:,} plans, {self.events:,} prior audit events"


FULL = Profile(
    name="full",
    plans=200_000,
    events=10_000_000,
    users=5_000,
    tokens=200,
    data_dir=ROOT / ".cpis" / "bench",
    duration_s=15,
    warmup_s=3,
    repeats=3,
    connections=32,
    paced_connections=64,
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
)

PROFILES = {p.name: p for p in (FULL, SMOKE)}
