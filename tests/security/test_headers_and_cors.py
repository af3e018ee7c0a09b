"""Headers fit for an API carrying child data; CORS only for configured, exact origins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings
from app.db.session import DatabaseURLs
from app.lookup import service as lookup_service
from app.main import create_app
from tests.conftest import Tokens, bearer
from tests.security.catalogue import LOOKUP_BODY
from tests.support import answering_500s

ALLOWED = "https://ed-registration.example.nhs.uk"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.fixture
async def cors_client(
    settings: Settings, database: DatabaseURLs
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"cors_origins": [ALLOWED]}), database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as c:
            yield c


async def test_no_cors_headers_unless_origins_are_configured(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = {**bearer(tokens.clinician()), "Origin": ALLOWED}
    response = await client.post("/v1/lookups", json=LOOKUP_BODY, headers=headers)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options("/v1/lookups", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_a_configured_origin_is_allowed_exactly_and_never_with_credentials(
    cors_client: httpx.AsyncClient, tokens: Tokens
) -> None:
    preflight = await cors_client.options("/v1/lookups", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    response = await cors_client.post(
        "/v1/lookups",
        json=LOOKUP_BODY,
        headers={**bearer(tokens.clinician()), "Origin": ALLOWED},
    )
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_other_origins_get_no_cors_grant(cors_client: httpx.AsyncClient) -> None:
    evil = "https://evil.example"
    preflight = await cors_client.options("/v1/lookups", headers={"Origin": evil, **PREFLIGHT})
    assert preflight.status_code == 400
    assert "Access-Control-Allow-Origin" not in preflight.headers
    response = await cors_client.get("/healthz", headers={"Origin": evil})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origins", ["*", "https://*.example.com", "null", "ftp://x.example"])
def test_wildcard_and_malformed_origins_are_refused_at_start(origins: str) -> None:
    with pytest.raises(ValidationError):
        Settings(cors_origins=origins, _env_file=None)  # type: ignore[call-arg]


async def test_every_kind_of_api_answer_carries_the_no_store_headers(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    answers = [
        await client.post("/v1/lookups", json=LOOKUP_BODY, headers=bearer(tokens.clinician())),
        await client.post("/v1/lookups", json=LOOKUP_BODY),
        await client.post("/v1/lookups", json={"nhs_number": "1"}, headers=bearer(tokens.la())),
        await client.post("/v1/lookups", content=b"x" * 70_000),
        await client.get("/v1/nothing-here"),
    ]
    assert [a.status_code for a in answers] == [200, 401, 403, 413, 404]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Request-ID"]


async def test_an_unexpected_failure_still_carries_the_request_id_and_security_headers(
    client: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("lookup failed")

    monkeypatch.setattr(lookup_service, "look_up", broken)
    async with answering_500s(client) as raw:
        response = await raw.post(
            "/v1/lookups",
            json=LOOKUP_BODY,
            headers={**bearer(tokens.clinician()), "X-Request-ID": "req-500"},
        )
    assert response.status_code == 500
    assert response.json()["code"] == "internal-error"
    assert "quote the X-Request-ID" in response.json()["detail"]
    assert response.headers["X-Request-ID"] == "req-500"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
