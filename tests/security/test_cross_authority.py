"""One local authority probing another's objects learns nothing: the answer is exactly
the answer for an object that does not exist (same status, same body; only the request
id differs). History, uploads, notifications and webhook deliveries, one test each.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Tokens, bearer
from tests.security.catalogue import (
    AUTHORITY_A,
    AUTHORITY_B,
    NO_SUCH_UPLOAD,
    UPLOAD_RECORD,
    token_for,
)
from tests.support import CAMDEN, CHILD_A, LEEDS, UNKNOWN, add_plan

NO_SUCH_AUTHORITY = "E99999999"


@pytest.fixture
def camden(tokens: Tokens) -> dict[str, str]:
    return bearer(token_for(tokens, AUTHORITY_A) or "")


@pytest.fixture
def leeds(tokens: Tokens) -> dict[str, str]:
    return bearer(token_for(tokens, AUTHORITY_B) or "")


def _visible(response: httpx.Response) -> tuple[int, str, Any]:
    """Everything a caller can compare between two answers, bar the request id."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "x-request-id"}
    return response.status_code, headers.get("content-type", ""), (response.json(), headers)


async def test_another_authoritys_child_history_answers_like_an_unknown_child(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection, camden: dict, leeds: dict
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    url = "/v1/access-history/search"
    held = await client.post(url, json={"nhs_number": CHILD_A}, headers=camden)
    assert held.status_code == 200
    probing = await client.post(url, json={"nhs_number": CHILD_A}, headers=leeds)
    missing = await client.post(url, json={"nhs_number": UNKNOWN}, headers=leeds)
    assert probing.status_code == 404
    assert _visible(probing) == _visible(missing)


async def test_another_authoritys_upload_id_answers_like_an_unknown_id(
    client: httpx.AsyncClient, camden: dict, leeds: dict
) -> None:
    sent = await client.post(
        "/v1/uploads", params={"sequence": 7}, json={"records": [UPLOAD_RECORD]}, headers=camden
    )
    assert sent.status_code == 201
    upload_id = sent.json()["upload_id"]
    assert (await client.get(f"/v1/uploads/{upload_id}", headers=camden)).status_code == 200
    probing = await client.get(f"/v1/uploads/{upload_id}", headers=leeds)
    missing = await client.get(f"/v1/uploads/{NO_SUCH_UPLOAD}", headers=leeds)
    assert probing.status_code == 404
    assert _visible(probing) == _visible(missing)
    listed = (await client.get("/v1/uploads", headers=leeds)).json()
    assert listed == {"items": [], "next_cursor": None}


async def test_another_authoritys_notification_cursor_shows_nothing_of_theirs(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    camden: dict,
    leeds: dict,
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    lookup = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
    for _ in range(2):
        response = await client.post("/v1/lookups", json=lookup, headers=bearer(tokens.clinician()))
        assert response.status_code == 200
    own = (await client.get("/v1/notifications", headers=camden)).json()["items"]
    assert len(own) == 2
    # Leeds replays Camden's first cursor: it reads its own (empty) feed from there, exactly
    # as from a position where nothing exists, and never Camden's second notification.
    probing = await client.get(
        "/v1/notifications", params={"after": own[0]["cursor"]}, headers=leeds
    )
    fresh = await client.get("/v1/notifications", headers=leeds)
    assert probing.json() == fresh.json() == {"items": [], "next_cursor": None}
    assert _visible(probing) == _visible(fresh)


async def test_another_authoritys_deliveries_answer_like_an_unknown_authoritys(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection, tokens: Tokens, camden: dict
) -> None:
    # Delivery state is for administrators (CONTRACT §3.5): an authority is refused alike
    # for its own, another's and a non-existent code, so the refusal reveals nothing.
    answers = [
        await client.get(f"/v1/local-authorities/{code}/deliveries", headers=camden)
        for code in (LEEDS, NO_SUCH_AUTHORITY, CAMDEN)
    ]
    assert {a.status_code for a in answers} == {403}
    assert _visible(answers[0]) == _visible(answers[1]) == _visible(answers[2])
    kinds = [r["kind"] for r in await owner_db.fetch("SELECT kind FROM audit_events")]
    assert kinds == ["access-denied"] * 3
    admin = bearer(tokens.admin())
    unknown = await client.get(
        f"/v1/local-authorities/{NO_SUCH_AUTHORITY}/deliveries", headers=admin
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not-found")


async def test_an_authority_cannot_rewrite_another_authoritys_directory_entry(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection, camden: dict
) -> None:
    entry = {"name": "Leeds (spoofed)", "webhook_url": None}
    response = await client.put(f"/v1/local-authorities/{LEEDS}", json=entry, headers=camden)
    assert response.status_code == 403
    name = await owner_db.fetchval("SELECT name FROM local_authorities WHERE code = $1", LEEDS)
    assert name == "Leeds"
