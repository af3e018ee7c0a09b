"""Repeated measurements reported as median [min–max]."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no measurements")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def ratio_to(self, other: Spread) -> float:
        return self.median / other.median if other.median else float("nan")

    def text(self, fmt: str = "{:,.0f}", unit: str = "") -> str:
        median = fmt.format(self.median)
        if self.runs == 1:
            return f"{median}{unit} (1 run)"
        return f"{median}{unit} [{fmt.format(self.low)}–{fmt.format(self.high)}]"
