"""What the FHIR facade costs on top of the native lookup, in process (not run by the suite).

    .venv/bin/python -m pytest tests/fhir/bench_fhir_overhead.py -q -s

Prints median and 95th percentile per call for POST /v1/lookups, the equivalent
CareTeam search, and the AuditEvent search over a full 25-entry history. Measured,
never asserted: timings depend on the machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from app.db.session import DatabaseURLs
from tests.conftest import Tokens, bearer
from tests.fhir.fhir_support import identifier
from tests.support import CHILD_A, LEEDS, add_past_lookup, add_plan

ROUNDS = 200


async def _timed(call: Callable[[], Awaitable[httpx.Response]]) -> str:
    for _ in range(20):  # warm the pool and caches
        assert (await call()).status_code == 200
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await call()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    p95 = statistics.quantiles(samples, n=20)[-1]
    return f"median {statistics.median(samples):.2f} ms, p95 {p95:.2f} ms"


async def test_measure_fhir_overhead(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC")
    now = datetime.now(UTC)
    for i in range(30):
        await add_past_lookup(database, CHILD_A, at=now - timedelta(days=i + 2), sub=f"u{i}")
    headers = bearer(tokens.clinician())
    body = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
    params = {"patient:identifier": identifier(CHILD_A)}
    results = {
        "POST /v1/lookups": await _timed(
            lambda: client.post("/v1/lookups", json=body, headers=headers)
        ),
        "GET /fhir/R4/CareTeam": await _timed(
            lambda: client.get("/fhir/R4/CareTeam", params=params, headers=headers)
        ),
        "GET /fhir/R4/AuditEvent": await _timed(
            lambda: client.get("/fhir/R4/AuditEvent", params=params, headers=headers)
        ),
    }
    for name, result in results.items():
        print(f"\n{name:24} {result}")
