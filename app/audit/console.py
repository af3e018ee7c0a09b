"""What ``cpis audit verify`` shows an operator: a progress bar on a terminal, a verdict."""

from __future__ import annotations

import time
from typing import TextIO

from app.audit.verify import VerifyResult

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


class ProgressBar:
    """Redraws one stderr line in place; only used when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.drawn = False

    def __call__(self, checked: int, fraction: float) -> None:
        now = time.monotonic()
        if now - self.drawn_at < REDRAW_SECONDS and fraction < 1:
            return
        self.drawn_at = now
        filled = round(BAR_WIDTH * min(max(fraction, 0.0), 1.0))
        rate = checked / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:6.1%} "
            f"{checked:,} events, {rate:,.0f}/s"
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def progress_for(stream: TextIO) -> ProgressBar | None:
    """A progress bar when ``stream`` is a terminal; plain output (none) otherwise."""
    return ProgressBar(stream) if stream.isatty() else None


def verdict(result: VerifyResult, seconds: float) -> str:
    """One line for a person: intact with the speed, or the first bad event and why."""
    rate = result.events_checked / max(seconds, 1e-9)
    if result.ok:
        return (
            f"audit trail intact: {result.events_checked:,} events in "
            f"{len(result.heads)} chains checked in {seconds:.1f} s ({rate:,.0f} events/s)"
        )
    return (
        f"AUDIT TRAIL BROKEN at event seq {result.first_bad_seq}: {result.reason} "
        f"({result.events_checked:,} events checked)"
    )
