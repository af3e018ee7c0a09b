"""The issue's targets, judged from what a run measured; the rest marked pending, with why.

A target another piece of work will measure is a ``Pending`` entry until then: the
report says "not measured yet" and why, and never shows a figure for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    id: str
    what: str
    target: str
    measured: str
    outcome: str  # "pass", "MISS" or "not measured yet"


@dataclass(frozen=True)
class Pending:
    id: str
    what: str
    target: str
    reason: str

    def verdict(self) -> Verdict:
        return Verdict(self.id, self.what, self.target, f"— ({self.reason})", "not measured yet")


PENDING = (
    Pending("L4", "lookup p99 while a 200,000-row upload runs", "≤ 2 × idle p99",
            "needs `POST /v1/uploads`, which is not on this branch yet"),
    Pending("U1", "200,000-row upload end to end", "≥ 0.3 × `C_copy` rows/s, and ≤ 10 s",
            "needs `POST /v1/uploads` (and its `C_copy` ceiling)"),
    Pending("U2", "service peak RSS during that upload", "≤ 300 MB",
            "needs `POST /v1/uploads`"),
    Pending("H1", "access-history search for one child, 10 M events",
            "p99 ≤ 20 ms; page 100 within 1.2 × page 1",
            "needs `POST /v1/access-history/search` (and its `C_history` ceiling)"),
    Pending("A1", "`cpis audit verify`", "≥ 100,000 events/s",
            "its measurement lands with the audit-verify work"),
)  # fmt: skip

PENDING_CEILINGS = (
    ("C_copy", "bare COPY of the upload rows into `plans`", "measured with U1"),
    ("C_history", "the history query run directly through asyncpg", "measured with H1"),
)


def judged(ok: bool) -> str:
    return "pass" if ok else "MISS"
