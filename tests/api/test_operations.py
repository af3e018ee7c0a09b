"""Health, readiness, metrics, request ids and headers (CONTRACT §3, §3.6)."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, add_plan


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
