"""Snapshots withdraw what they leave out, never silently too much."""

from __future__ import annotations

from datetime import date

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.ingest.helpers import csv_body, plans_of, upload, upload_count
from tests.support import CHILD_A, CHILD_B, CHILD_C, LEEDS, MOTHER, add_plan

START = date(2026, 1, 5)


def row(nhs: str, plan_type: str = "CPP") -> str:
    return f"{nhs},{plan_type},2026-01-05,,,"


async def lookup_plans(client: httpx.AsyncClient, tokens: Tokens, nhs: str) -> list[str]:
    response = await client.post(
        "/v1/lookups",
        json={"nhs_number": nhs, "care_setting": "emergency-department"},
        headers=bearer(tokens.clinician()),
    )
    return [p["local_authority"]["code"] for p in response.json()["plans"]]


async def five_plans(db: asyncpg.Connection) -> None:
    for nhs in (CHILD_A, CHILD_B, CHILD_C, MOTHER):
        await add_plan(db, nhs)
    await add_plan(db, CHILD_A, plan_type="LAC")


async def test_plans_missing_from_a_snapshot_are_withdrawn_not_deleted(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await five_plans(owner_db)
    await add_plan(owner_db, CHILD_B, authority=LEEDS)
    body = csv_body(row(CHILD_A), row(CHILD_A, "LAC"), row(CHILD_B), row(CHILD_C))
    response = await upload(client, tokens, body, mode="snapshot")
    assert (response.status_code, response.json()["withdrawn"]) == (201, 1)
    withdrawn = [p[0] for p in await plans_of(owner_db) if p[6]]
    assert withdrawn == [MOTHER]
    assert await lookup_plans(client, tokens, MOTHER) == []
    assert await plans_of(owner_db, LEEDS) == [(CHILD_B, "CPP", START, None, None, None, False)]


async def test_a_delta_withdraws_nothing(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await five_plans(owner_db)
    response = await upload(client, tokens, csv_body(row(CHILD_A)))
    assert response.json()["withdrawn"] == 0
    assert not any(p[6] for p in await plans_of(owner_db))


async def test_withdrawing_more_than_a_fifth_is_409_and_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await five_plans(owner_db)
    before = await plans_of(owner_db)
    body = csv_body(row(CHILD_A), row(CHILD_A, "LAC"), row(CHILD_B))  # 2 of 5 left out
    response = await upload(client, tokens, body, mode="snapshot", sequence=4)
    assert (response.status_code, response.json()["code"]) == (409, "mass-withdrawal")
    assert "2 of the authority's 5" in response.json()["detail"]
    assert await plans_of(owner_db) == before
    assert await upload_count(owner_db) == 0
    allowed = await upload(
        client, tokens, body, mode="snapshot", sequence=4, allow_mass_withdrawal="true"
    )
    assert (allowed.status_code, allowed.json()["withdrawn"]) == (201, 2)


async def test_an_empty_snapshot_needs_allow_mass_withdrawal_and_then_withdraws_everything(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await five_plans(owner_db)
    empty = csv_body()
    refused = await upload(client, tokens, empty, mode="snapshot")
    assert (refused.status_code, refused.json()["file_code"]) == (422, "CPF01")
    accepted = await upload(client, tokens, empty, mode="snapshot", allow_mass_withdrawal="true")
    assert accepted.status_code == 201
    assert (accepted.json()["received"], accepted.json()["withdrawn"]) == (0, 5)
    assert all(p[6] for p in await plans_of(owner_db))
    # The same bytes under the same sequence are a replay (CONTRACT §3.2), however sent.
    for options in ({"mode": "snapshot"}, {}):
        again = await upload(client, tokens, empty, **options)
        assert (again.status_code, again.json()) == (200, accepted.json())


async def test_a_child_whose_row_was_rejected_keeps_their_plans(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await five_plans(owner_db)
    await owner_db.execute(
        "INSERT INTO superseded_nhs_numbers (nhs_number, marked_by) VALUES ($1, 'test')", MOTHER
    )
    body = csv_body(
        row(CHILD_A),
        f"{CHILD_A},LAC,2026-01-05,2025-01-01,,",  # end before start
        row(CHILD_B),
        row(CHILD_C),
        row(MOTHER, "UCPP"),  # superseded
    )
    response = await upload(client, tokens, body, mode="snapshot")
    assert (response.json()["rejected"], response.json()["withdrawn"]) == (2, 0)
    assert not any(p[6] for p in await plans_of(owner_db))


async def test_a_withdrawn_plan_sent_again_is_visible_again(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, withdrawn=True)
    assert await lookup_plans(client, tokens, CHILD_A) == []
    await upload(client, tokens, csv_body(row(CHILD_A)))
    assert await lookup_plans(client, tokens, CHILD_A) == ["E09000007"]


async def test_plans_no_longer_visible_are_not_counted_or_withdrawn(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    for nhs in (CHILD_B, CHILD_C, MOTHER):
        await add_plan(owner_db, nhs, end=date(2020, 1, 1), start=date(2019, 1, 1))
    response = await upload(client, tokens, csv_body(row(CHILD_A)), mode="snapshot")
    assert (response.status_code, response.json()["withdrawn"]) == (201, 0)
