"""The per-row NHS number fast path agrees with the one rule in app/nhs_number.py."""

from __future__ import annotations

import random

from app.ingest.rows import _plain_valid, check_record
from app.nhs_number import problem_with
from tests.support import CHILD_A, MOTHER


def test_fast_nhs_number_check_agrees_with_the_modulus_11_rule() -> None:
    rng = random.Random(3)
    candidates = [f"{rng.randrange(10**10):010d}" for _ in range(20_000)]
    candidates += [CHILD_A, MOTHER, "0000000000", "9434765919", "943476591", "94347659１9"]
    for raw in candidates:
        assert _plain_valid(raw) == (problem_with(raw) is None), raw


def test_a_valid_record_has_no_problems_and_keeps_its_values() -> None:
    record = check_record((f" {CHILD_A} ", "UCPP", "2026-01-05", "", None, " L1 "))
    assert record.problems == ()
    assert (record.nhs_number, record.values) == (
        CHILD_A,
        ("UCPP", "2026-01-05", None, None, "L1"),
    )
