"""Directory admin: paginated list, write-only webhook secret, validation, audited changes."""

from __future__ import annotations

import asyncpg
import httpx

from app.config import Settings
from tests.conftest import Tokens, bearer
from tests.support import CAMDEN

SECRET = "a-long-enough-secret-0123"
ENTRY = {
    "name": "Camden",
    "office_hours_phone": "020 7974 4000",
    "emergency_duty_phone": "+44 20 7974 4444",
    "webhook_url": "https://camden.example/cpis",
    "webhook_secret": SECRET,
}


async def put(client: httpx.AsyncClient, token: str, body: dict, code: str = CAMDEN):
    return await client.put(f"/v1/local-authorities/{code}", json=body, headers=bearer(token))


async def test_directory_lists_every_authority_in_pages(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    total = await owner_db.fetchval("SELECT count(*) FROM local_authorities")
    admin = bearer(tokens.admin())
    codes: list[str] = []
    cursor = None
    while True:
        params = {"limit": 40, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/local-authorities", params=params, headers=admin)).json()
        codes += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(codes) == total > 100
    assert codes == sorted(set(codes))


async def test_webhook_secret_is_write_only_and_kept_unless_sent(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    admin = tokens.admin()
    response = await put(client, admin, ENTRY)
    assert response.status_code == 200
    assert SECRET not in response.text
    assert response.json()["webhook_secret_set"] is True
    assert "webhook_secret" not in response.json()
    kept = await put(client, admin, {k: v for k, v in ENTRY.items() if k != "webhook_secret"})
    assert kept.json()["webhook_secret_set"] is True
    listed = await client.get("/v1/local-authorities", headers=bearer(admin))
    assert SECRET not in listed.text
    stored = await owner_db.fetchval(
        "SELECT webhook_secret FROM local_authorities WHERE code = $1", CAMDEN
    )
    assert stored == SECRET
    cleared = await put(client, admin, {"name": "Camden", "webhook_secret": None})
    assert cleared.json()["webhook_secret_set"] is False
    assert cleared.json()["webhook_url"] is None


async def test_directory_changes_are_audited_without_the_secret(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await put(client, tokens.admin(), ENTRY)
    row = await owner_db.fetchrow(
        "SELECT actor, detail::text AS detail FROM audit_events WHERE kind = 'admin-change'"
    )
    assert row is not None
    assert SECRET not in row["detail"]
    for field in ("office_hours_phone", "webhook_url", "webhook_secret"):
        assert field in row["detail"]


async def test_a_webhook_url_needs_a_secret_and_a_web_scheme(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    no_secret = {"name": "Camden", "webhook_url": "https://camden.example/cpis"}
    assert (await put(client, admin, no_secret)).status_code == 422
    for url in ("ftp://camden.example/x", "https://user:pw@camden.example/", "camden.example"):
        assert (await put(client, admin, {**ENTRY, "webhook_url": url})).status_code == 422, url
    assert (await put(client, admin, {**ENTRY, "webhook_secret": "short"})).status_code == 422
    assert (await put(client, admin, {**ENTRY, "webhook_url": "http://127.0.0.1:9/x"})).is_success


async def test_production_accepts_only_https_webhooks_off_loopback(
    client: httpx.AsyncClient, settings: Settings, tokens: Tokens
) -> None:
    # Production refuses development tokens at start-up, so switch a running app over.
    client.app.state.settings = settings.model_copy(update={"env": "production"})  # type: ignore[attr-defined]
    admin = tokens.admin()
    for url in ("http://camden.example/cpis", "https://localhost/x", "https://127.0.0.1/x"):
        response = await put(client, admin, {**ENTRY, "webhook_url": url})
        assert response.status_code == 422, url
    assert (await put(client, admin, ENTRY)).status_code == 200


async def test_phone_numbers_and_names_are_bounded_and_printable(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    for phone in ("", "12", "0" * 40, "020\n7974", "call me"):
        response = await put(client, admin, {**ENTRY, "office_hours_phone": phone})
        assert response.status_code == 422, phone
    for name in ("", "x" * 201, "Cam\x00den"):
        assert (await put(client, admin, {**ENTRY, "name": name})).status_code == 422
    assert (await put(client, admin, {**ENTRY, "colour": "red"})).status_code == 422


async def test_unknown_authorities_answer_404_and_non_admins_403(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    assert (await put(client, admin, ENTRY, code="E99999999")).status_code == 404
    missing = await client.get("/v1/local-authorities/E99999999/deliveries", headers=bearer(admin))
    assert missing.status_code == 404
    assert (await put(client, admin, ENTRY, code="not-a-code")).status_code == 422
    for token in (tokens.la(org=CAMDEN), tokens.auditor(), tokens.clinician()):
        assert (await put(client, token, ENTRY)).status_code == 403
        listed = await client.get("/v1/local-authorities", headers=bearer(token))
        assert listed.status_code == 403
