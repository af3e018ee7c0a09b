"""One authority can never touch or read another's plans or uploads."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.ingest.helpers import csv_body, plans_of, upload
from tests.support import CAMDEN, CHILD_A, KENT, LEEDS, add_plan


async def test_an_upload_only_ever_writes_the_tokens_own_authority(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="CPP")
    response = await upload(
        client,
        tokens,
        csv_body(f"{CHILD_A},CPP,2026-01-05,2026-02-01,,"),
        mode="snapshot",
        org=CAMDEN,
    )
    assert response.json()["local_authority"] == CAMDEN
    [leeds_plan] = await plans_of(owner_db, LEEDS)
    assert leeds_plan[3] is None
    assert not leeds_plan[6]
    assert len(await plans_of(owner_db, CAMDEN)) == 1


async def test_another_authoritys_upload_answers_404_like_an_unknown_id(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    mine = (await upload(client, tokens, csv_body(f"{CHILD_A},CPP,2026-01-05,,,"))).json()
    own = await client.get(f"/v1/uploads/{mine['upload_id']}", headers=bearer(tokens.la()))
    assert own.status_code == 200
    assert own.json() == mine
    theirs = await client.get(
        f"/v1/uploads/{mine['upload_id']}", headers=bearer(tokens.la(org=LEEDS))
    )
    unknown = await client.get(
        "/v1/uploads/00000000-0000-4000-8000-000000000000", headers=bearer(tokens.la(org=LEEDS))
    )
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    listed = await client.get("/v1/uploads", headers=bearer(tokens.la(org=LEEDS)))
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_the_list_is_newest_first_in_pages(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for sequence in (1, 4, 9):
        await upload(
            client, tokens, csv_body(f"{CHILD_A},CPP,2026-01-0{sequence},,,"), sequence=sequence
        )
    await upload(client, tokens, csv_body(f"{CHILD_A},CPP,2026-01-05,,,"), org=KENT)
    first = (await client.get("/v1/uploads?limit=2", headers=bearer(tokens.la()))).json()
    assert [i["sequence"] for i in first["items"]] == [9, 4]
    assert "rejections" not in first["items"][0]
    assert "created_at" in first["items"][0]
    second = (
        await client.get(
            "/v1/uploads",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=bearer(tokens.la()),
        )
    ).json()
    assert ([i["sequence"] for i in second["items"]], second["next_cursor"]) == ([1], None)


async def test_bad_cursor_and_limits_are_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for query in ("cursor=bm90LW91cnM", "cursor=%%%", "limit=0", "limit=1001"):
        response = await client.get(f"/v1/uploads?{query}", headers=bearer(tokens.la()))
        assert response.status_code == 422, query


async def test_a_token_for_an_organisation_outside_the_directory_is_403_and_audited(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    response = await upload(
        client, tokens, csv_body(f"{CHILD_A},CPP,2026-01-05,,,"), org="E99999999"
    )
    assert response.status_code == 403
    assert (
        await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'access-denied'")
        == 1
    )
    assert await owner_db.fetchval("SELECT count(*) FROM plans") == 0


async def test_uploads_need_the_upload_scope_and_a_token(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = csv_body(f"{CHILD_A},CPP,2026-01-05,,,")
    no_scope = tokens.la(scopes=("cpis:notifications",))
    for headers, expected in (
        ({}, 401),
        (bearer(no_scope), 403),
        (bearer(tokens.clinician()), 403),
        (bearer(tokens.admin()), 403),
    ):
        response = await client.post(
            "/v1/uploads?sequence=1", content=body, headers={**headers, "Content-Type": "text/csv"}
        )
        assert response.status_code == expected
    assert (await client.get("/v1/uploads", headers=bearer(no_scope))).status_code == 403
