"""Superseding an NHS number notifies every authority holding a plan for it, once."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.support import CAMDEN, CHILD_A, CHILD_B, KENT, LEEDS, add_plan


async def supersede(client: httpx.AsyncClient, token: str, body: dict) -> httpx.Response:
    return await client.post("/v1/nhs-numbers/supersede", json=body, headers=bearer(token))


async def feed_of(client: httpx.AsyncClient, tokens: Tokens, code: str) -> list[dict]:
    response = await client.get("/v1/notifications", headers=bearer(tokens.la(org=code)))
    return response.json()["items"]


async def test_every_plan_holder_gets_one_inactive_nhs_number_notification(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC", withdrawn=True)
    body = {"nhs_number": CHILD_A, "superseded_by": CHILD_B}
    response = await supersede(client, tokens.admin(), body)
    assert response.status_code == 200
    assert response.json()["superseded_by"] == CHILD_B
    for code, plan_types in ((CAMDEN, ["CPP"]), (LEEDS, ["LAC"])):
        [item] = await feed_of(client, tokens, code)
        assert item["type"] == "inactive-nhs-number"
        assert (item["nhs_number"], item["superseded_by"]) == (CHILD_A, CHILD_B)
        assert item["plan_types"] == plan_types
    assert await feed_of(client, tokens, KENT) == []
    marked = await owner_db.fetchrow("SELECT * FROM superseded_nhs_numbers")
    assert (marked["nhs_number"], marked["superseded_by"]) == (CHILD_A, CHILD_B)


async def test_marking_again_the_same_way_notifies_no_one_twice(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    inactive = {"nhs_number": CHILD_A, "superseded_by": None}
    await supersede(client, tokens.admin(), inactive)
    await supersede(client, tokens.admin(), inactive)
    assert len(await feed_of(client, tokens, CAMDEN)) == 1
    await supersede(client, tokens.admin(), {**inactive, "superseded_by": CHILD_B})
    items = await feed_of(client, tokens, CAMDEN)
    assert [i["superseded_by"] for i in items] == [None, CHILD_B]


async def test_supersede_is_audited_against_the_number_without_logging_it(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    await supersede(client, tokens.admin(), {"nhs_number": CHILD_A, "superseded_by": CHILD_B})
    row = await owner_db.fetchrow(
        "SELECT subject_nhs_number, detail::text AS detail FROM audit_events"
        " WHERE kind = 'admin-change'"
    )
    assert row is not None
    assert row["subject_nhs_number"] == CHILD_A
    assert CHILD_A not in row["detail"]
    assert CHILD_B not in row["detail"]


async def test_supersede_validates_numbers_and_needs_the_admin_scope(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    bad = await supersede(client, admin, {"nhs_number": "9996704875", "superseded_by": None})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid-nhs-number")
    same = await supersede(client, admin, {"nhs_number": CHILD_A, "superseded_by": CHILD_A})
    assert same.status_code == 422
    for token in (tokens.la(org=CAMDEN), tokens.auditor(), tokens.clinician()):
        response = await supersede(client, token, {"nhs_number": CHILD_A})
        assert response.status_code == 403
