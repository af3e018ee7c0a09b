"""A1: ``cpis audit verify`` over the whole trail, as an operator runs it.

The installed console script in its own process on the run's database (after every other
measurement, so the trail also holds what the bench's own requests appended); events/s is
events checked over the command's wall time, start-up included.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.db.session import DatabaseURLs
from bench import servers
from bench.profiles import Profile
from bench.stats import Spread
from bench.targets import Verdict, judged


@dataclass(frozen=True)
class VerifyFigures:
    events: int
    seconds: list[float]

    @property
    def rate(self) -> Spread:
        return Spread.of([self.events / s for s in self.seconds])

    def verdicts(self) -> list[Verdict]:
        return [
            Verdict(
                "A1",
                "`cpis audit verify`",
                "≥ 100,000 events/s",
                f"{self.rate.text(unit=' events/s')} ({self.events:,} events)",
                judged(self.rate.median >= 100_000),
            )
        ]

    def figure_rows(self) -> list[list[str]]:
        return [
            [
                "A1",
                f"`cpis audit verify` of {self.events:,} events, wall time",
                Spread.of(self.seconds).text("{:.1f}", " s"),
                "—",
            ]
        ]


def run_verify(urls: DatabaseURLs, service_dir: Path) -> tuple[int, float]:
    script = Path(sys.executable).with_name("cpis")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own console script
        [*command, "audit", "verify"],
        env=servers.service_env(urls, service_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    if done.returncode != 0 or not result.get("ok"):
        raise RuntimeError(f"cpis audit verify failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(result["events_checked"]), took


def measure(profile: Profile, full: DatabaseURLs, service_dir: Path) -> VerifyFigures:
    runs = [run_verify(full, service_dir) for _ in range(profile.repeats)]
    return VerifyFigures(runs[0][0], [seconds for _, seconds in runs])
