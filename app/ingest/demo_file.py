"""Synthetic upload files for trying uploads out, the tests and the benchmark.

Every NHS number is in the 999 test range; bad rows, when asked for, are the
mistakes real files contain (a mistyped digit, dates the wrong way round, an
unknown plan type, a malformed date, the same plan twice).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from app.demo import synthetic_nhs_numbers
from app.ingest.rows import FIELDS

_BAD_KINDS = ("check-digit", "end-before-start", "plan-type", "date", "duplicate")


def _plan_type(rng: random.Random) -> str:
    # Roughly the national mix: most children in scope are looked after or on a CPP.
    draw = rng.random()
    return "LAC" if draw < 0.55 else ("CPP" if draw < 0.95 else "UCPP")


def _good_row(rng: random.Random, nhs: str, index: int, today: date) -> list[str]:
    start = today - timedelta(days=rng.randrange(1, 1500))
    end = ""
    if rng.random() < 0.15:
        end = min(start + timedelta(days=rng.randrange(30, 700)), today).isoformat()
    delete = ""
    if end and rng.random() < 0.1:
        delete = (date.fromisoformat(end) + timedelta(days=365)).isoformat()
    return [nhs, _plan_type(rng), start.isoformat(), end, delete, f"CASE-{index:07d}"]


def _spoil(row: list[str], kind: str, previous: list[str] | None) -> list[str]:
    if kind == "check-digit":
        row[0] = row[0][:9] + str((int(row[0][9]) + 1) % 10)
    elif kind == "end-before-start":
        row[3] = (date.fromisoformat(row[2]) - timedelta(days=3)).isoformat()
    elif kind == "plan-type":
        row[1] = "CIN"
    elif kind == "date":
        row[2] = row[2][8:10] + "/" + row[2][5:7] + "/" + row[2][:4]
    elif previous is not None:
        row = list(previous)
    return row


def write_upload_file(
    path: Path, *, rows: int, bad_share: float = 0.0, seed: int = 0, today: date | None = None
) -> Counter[str]:
    """Write ``rows`` records as upload CSV; returns how many rows of each kind were written."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    today = today or date.today()
    numbers = synthetic_nhs_numbers(rows, seed=seed)
    kinds: Counter[str] = Counter()
    previous: list[str] | None = None
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(FIELDS) + "\n")
        for index, nhs in enumerate(numbers):
            row = _good_row(rng, nhs, index, today)
            kind = "good"
            if rng.random() < bad_share:
                kind = _BAD_KINDS[index % len(_BAD_KINDS)]
                row = _spoil(row, kind, previous)
            kinds[kind] += 1
            previous = row
            f.write(",".join(row) + "\n")
    return kinds
