"""Health, readiness, metrics, request ids and headers (CONTRACT §3, §3.6)."""

from __future__ import annotations

import re

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, UNKNOWN, add_plan


async def test_healthz_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_ready_when_migrations_are_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_when_migrations_are_behind(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    await owner_db.execute("UPDATE alembic_version SET version_num = 'older'")
    assert (await client.get("/readyz")).status_code == 503


async def test_metrics_count_lookups_by_route_template(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = {"nhs_number": CHILD_A, "care_setting": "other"}
    await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    text = (await client.get("/metrics")).text
    assert 'cpis_http_requests_total{method="POST",route="/v1/lookups",status="200"}' in text
    assert CHILD_A not in text


def lookup_counts(metrics: str) -> dict[str, float]:
    found = re.finditer(r'^cpis_lookups_total\{outcome="([^"]+)"\} (\S+)$', metrics, re.M)
    return {m[1]: float(m[2]) for m in found}


async def test_metrics_count_lookups_by_outcome_native_and_fhir(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    before = lookup_counts((await client.get("/metrics")).text)
    clinician = bearer(tokens.clinician())
    for nhs_number in (CHILD_A, UNKNOWN, "123"):
        body = {"nhs_number": nhs_number, "care_setting": "other"}
        await client.post("/v1/lookups", json=body, headers=clinician)
    body = {"nhs_number": CHILD_A, "care_setting": "other", "unscheduled": True}
    receptionist = bearer(tokens.clinician(activity=("B0170",)))
    assert (await client.post("/v1/lookups", json=body, headers=receptionist)).status_code == 403
    assert (await client.post("/v1/lookups", json=body)).status_code == 401
    identifier = f"https://fhir.nhs.uk/Id/nhs-number|{CHILD_A}"
    fhir = await client.get(
        "/fhir/R4/CareTeam", params={"patient:identifier": identifier}, headers=clinician
    )
    assert fhir.status_code == 200
    after = lookup_counts((await client.get("/metrics")).text)
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {
        "flagged": 2,
        "not-flagged": 1,
        "invalid": 1,
        "unauthenticated": 1,
        "denied": 1,
        "rate-limited": 0,
        "unavailable": 0,
        "error": 0,
    }


async def test_request_id_is_echoed_when_safe_and_generated_otherwise(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["X-Request-ID"] not in ("", "bad id\twith spaces")
    assert len(generated.headers["X-Request-ID"]) == 36


async def test_responses_carrying_child_data_are_never_cached(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    body = {"nhs_number": CHILD_A, "care_setting": "other"}
    response = await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_openapi_document_is_served_without_a_token(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/v1/lookups" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
