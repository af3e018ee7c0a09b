"""POST /v1/access-history/search: own children only, auditors any, keyset pages, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.db.session import DatabaseURLs
from app.history.repository import page_query
from tests.conftest import Tokens, bearer
from tests.support import (
    CAMDEN,
    CHILD_A,
    CHILD_B,
    LEEDS,
    UNKNOWN,
    add_past_lookup,
    add_plan,
    fill_lookups,
    generic_plan,
)

SEARCH = "/v1/access-history/search"


async def search(client: httpx.AsyncClient, token: str, **body: object) -> httpx.Response:
    return await client.post(SEARCH, json={"nhs_number": CHILD_A, **body}, headers=bearer(token))


async def look_up(
    client: httpx.AsyncClient, token: str, nhs: str = CHILD_A, **extra: object
) -> None:
    body = {"nhs_number": nhs, "care_setting": "emergency-department", **extra}
    response = await client.post("/v1/lookups", json=body, headers=bearer(token))
    assert response.status_code == 200


async def test_la_sees_every_look_at_its_child_newest_first_scheduled_included(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await look_up(client, tokens.clinician(sub="ed-nurse"))
    await look_up(client, tokens.clinician(sub="gp", activity=("B0170",)))
    response = await search(client, tokens.la(org=CAMDEN))
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["user_id"], i["unscheduled"]) for i in items] == [("gp", False), ("ed-nurse", True)]
    assert items[1]["org_code"] == "RJ122"
    assert items[1]["care_setting"] == "emergency-department"
    assert items[1]["role_name"] == "Clinical Practitioner"
    assert items[1]["user_name"] == "Dr Ada Example"
    assert items[1]["request_id"]
    assert response.json()["next_cursor"] is None


async def test_la_cannot_read_another_las_history_and_the_404_matches_an_unknown_child(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=LEEDS)
    await look_up(client, tokens.clinician())
    others = await search(client, tokens.la(org=CAMDEN))
    unknown = await search(client, tokens.la(org=CAMDEN), nhs_number=UNKNOWN)
    assert others.status_code == unknown.status_code == 404
    assert others.json() == unknown.json()
    assert others.json()["code"] == "not-found"
    assert others.headers["content-type"] == unknown.headers["content-type"]
    assert CHILD_A not in others.text


async def test_a_withdrawn_plan_still_held_lets_the_la_read_the_history(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, withdrawn=True)
    assert (await search(client, tokens.la(org=CAMDEN))).status_code == 200


async def test_auditor_sees_any_child_even_one_never_flagged(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await look_up(client, tokens.clinician(), nhs=CHILD_B)
    response = await search(client, tokens.auditor(), nhs_number=CHILD_B)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1
    assert (await search(client, tokens.auditor(), nhs_number=UNKNOWN)).json()["items"] == []


async def test_health_users_and_tokens_without_the_scope_are_refused(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    assert (await search(client, tokens.clinician())).status_code == 403
    upload_only = tokens.la(org=CAMDEN, scopes=("cpis:upload",))
    assert (await search(client, upload_only)).status_code == 403
    assert (await search(client, tokens.admin())).status_code == 403


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    now = datetime.now(UTC)
    for i in range(7):
        await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=7 - i), sub=f"u{i}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        body = search(client, tokens.la(org=CAMDEN), limit=3, cursor=cursor)
        page = (await body).json()
        seen += [item["user_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"u{i}" for i in reversed(range(7))]
    assert pages == 3


async def test_pages_are_newest_first_by_access_time_not_by_record_order(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    # A look recorded late (a slow request, a clock a little behind) is listed by when
    # it happened, on every page.
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    base = datetime(2026, 6, 1, 12, tzinfo=UTC)
    for hour, sub in ((2, "second"), (0, "first"), (3, "third"), (1, "between")):
        await add_past_lookup(database, CHILD_A, at=base + timedelta(hours=hour), sub=sub)
    seen: list[str] = []
    cursor = None
    while True:
        page = (await search(client, tokens.la(org=CAMDEN), limit=1, cursor=cursor)).json()
        seen += [item["user_id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == ["third", "second", "between", "first"]


@pytest.mark.parametrize("given", [(False, False, False), (True, False, False), (True, True, True)])
async def test_any_page_is_a_range_scan_of_the_childs_index_of_looks(
    owner_db: asyncpg.Connection, given: tuple[bool, bool, bool]
) -> None:
    # Page 100 must cost what page 1 costs: read backwards from the cursor on the index's
    # own order, with no OFFSET and nothing to sort.
    await fill_lookups(owner_db)
    before, since, until = given
    plan = await generic_plan(owner_db, page_query(before=before, since=since, until=until))
    assert "Index Scan Backward using ix_audit_events_lookups_by_subject" in plan, plan
    assert "Sort" not in plan, plan
    if before:  # the cursor bounds the scan; it does not filter the rows read
        bounds = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any("ROW(occurred_at, seq) < ROW(" in line for line in bounds), plan


async def test_since_and_until_bound_the_accesses_shown(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    base = datetime(2026, 6, 1, 12, tzinfo=UTC)
    for day in range(5):
        await add_past_lookup(database, CHILD_A, at=base + timedelta(days=day), sub=f"d{day}")
    response = await search(
        client,
        tokens.la(org=CAMDEN),
        since=(base + timedelta(days=1)).isoformat(),
        until=(base + timedelta(days=3)).isoformat(),
    )
    assert [i["user_id"] for i in response.json()["items"]] == ["d2", "d1"]


@pytest.mark.parametrize(
    "body",
    [
        {"cursor": "not-a-cursor"},
        {"limit": 0},
        {"limit": 1001},
        {"since": "2026-06-01T12:00:00"},  # no offset: ambiguous
        {"since": "2026-06-02T00:00:00Z", "until": "2026-06-01T00:00:00Z"},
        {"unexpected": True},
    ],
)
async def test_bad_searches_are_422(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, body: dict[str, object]
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    response = await search(client, tokens.la(org=CAMDEN), **body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-request"


async def test_a_bad_nhs_number_is_invalid_nhs_number(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await search(client, tokens.auditor(), nhs_number="9996704875")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-nhs-number"


async def test_every_search_is_audited_with_its_filters_not_its_results(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await look_up(client, tokens.clinician())
    await search(client, tokens.la(org=CAMDEN), limit=5)
    await search(client, tokens.la(org=LEEDS))
    rows = await owner_db.fetch(
        "SELECT actor->>'org_code' AS org, subject_nhs_number, detail FROM audit_events"
        " WHERE kind = 'history-search' ORDER BY seq"
    )
    assert [(r["org"], r["subject_nhs_number"]) for r in rows] == [
        (CAMDEN, CHILD_A),
        (LEEDS, CHILD_A),
    ]
    shown, refused = (r["detail"] for r in rows)
    assert '"outcome": "shown"' in shown
    assert '"limit": 5' in shown
    assert '"outcome": "not-found"' in refused
    assert "Dr Ada Example" not in shown
