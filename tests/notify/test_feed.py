"""The notification feed: own notifications only, creation order, no row skipped by a cursor."""

from __future__ import annotations

import asyncio
import json
import random
import uuid

import asyncpg
import httpx

from app.db.session import DatabaseURLs
from tests.conftest import Tokens, bearer
from tests.support import CAMDEN, CHILD_A, CHILD_B, KENT, LEEDS, add_plan

ACCESS = {"plan_types": ["CPP"], "user_name": "Dr Test", "care_setting": "emergency-department"}


async def look_up(client: httpx.AsyncClient, tokens: Tokens, nhs: str = CHILD_A) -> None:
    body = {"nhs_number": nhs, "care_setting": "emergency-department"}
    response = await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    assert response.status_code == 200


async def feed(
    client: httpx.AsyncClient, token: str, after: str | None = None, limit: int = 100
) -> httpx.Response:
    params: dict[str, str | int] = {"limit": limit}
    if after is not None:
        params["after"] = after
    return await client.get("/v1/notifications", params=params, headers=bearer(token))


async def insert_notification(conn: asyncpg.Connection, code: str = CAMDEN) -> uuid.UUID:
    """A notification written the way the service writes one, on ``conn``'s transaction."""
    nid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO notifications (id, local_authority_code, type, nhs_number, payload)"
        " VALUES ($1, $2, 'access', $3, $4::jsonb)",
        nid,
        code,
        CHILD_A,
        json.dumps({"nhs_number": CHILD_A, **ACCESS}),
    )
    return nid


async def read_all(client: httpx.AsyncClient, token: str, after: str | None, limit: int) -> tuple:
    """Every item available now, following cursors; returns (items, last cursor)."""
    items: list[dict] = []
    while True:
        page = (await feed(client, token, after, limit)).json()
        items += page["items"]
        if page["items"]:
            after = page["items"][-1]["cursor"]
        if page["next_cursor"] is None:
            return items, after
        assert page["next_cursor"] == after


async def test_la_reads_only_its_own_access_notifications(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, plan_type="CPP")
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC")
    await add_plan(owner_db, CHILD_B, authority=LEEDS)
    await look_up(client, tokens, CHILD_A)
    await look_up(client, tokens, CHILD_B)
    camden = (await feed(client, tokens.la(org=CAMDEN))).json()
    leeds = (await feed(client, tokens.la(org=LEEDS))).json()
    kent = (await feed(client, tokens.la(org=KENT))).json()
    assert [(i["nhs_number"], i["plan_types"]) for i in camden["items"]] == [(CHILD_A, ["CPP"])]
    assert [i["nhs_number"] for i in leeds["items"]] == [CHILD_A, CHILD_B]
    assert leeds["items"][0]["plan_types"] == ["LAC"]
    assert kent == {"items": [], "next_cursor": None}
    item = camden["items"][0]
    assert item["type"] == "access"
    assert item["org_code"] == "RJ122"
    assert item["care_setting"] == "emergency-department"
    assert {"id", "cursor", "created_at", "accessed_at", "user_name", "role_name"} <= set(item)


async def test_notification_ids_are_time_ordered_so_each_lands_in_the_newest_leaf(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await add_plan(owner_db, CHILD_A, authority=LEEDS)
    for _ in range(3):
        await look_up(client, tokens, CHILD_A)
    rows = await owner_db.fetch("SELECT id FROM notifications ORDER BY seq")
    ids = [row["id"] for row in rows]
    assert len(ids) == 6
    assert {i.version for i in ids} == {7}
    # Sorted as PostgreSQL sorts uuids (bytewise): the key order is the creation order.
    assert sorted(ids, key=lambda i: i.bytes) == ids


async def test_cursor_pages_through_every_notification_in_creation_order_once(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    created = [await insert_notification(owner_db) for _ in range(7)]
    token = tokens.la(org=CAMDEN)
    first = (await feed(client, token, limit=3)).json()
    assert len(first["items"]) == 3
    assert first["next_cursor"] == first["items"][-1]["cursor"]
    items, last = await read_all(client, token, None, 3)
    assert [uuid.UUID(i["id"]) for i in items] == created
    assert (await feed(client, token, last)).json() == {"items": [], "next_cursor": None}
    later = await insert_notification(owner_db)
    assert [uuid.UUID(i["id"]) for i in (await feed(client, token, last)).json()["items"]] == [
        later
    ]


async def test_a_notification_committed_late_is_not_skipped_by_a_cursor(
    client: httpx.AsyncClient, tokens: Tokens, database: DatabaseURLs
) -> None:
    slow, fast = await asyncpg.connect(database.owner), await asyncpg.connect(database.owner)
    token = tokens.la(org=CAMDEN)
    try:
        slow_tx, fast_tx = slow.transaction(), fast.transaction()
        await slow_tx.start()
        first = await insert_notification(slow)  # lower seq, commits last
        await fast_tx.start()
        second = await insert_notification(fast)
        await fast_tx.commit()
        # A seq cursor would now hand out `second` and move past `first` for good.
        page = (await feed(client, token)).json()
        assert page["items"] == []
        await slow_tx.commit()
        items, _ = await read_all(client, token, None, 1)
        assert [uuid.UUID(i["id"]) for i in items] == [first, second]
    finally:
        await slow.close()
        await fast.close()


async def _writer(urls: DatabaseURLs, count: int, rng: random.Random) -> list[uuid.UUID]:
    conn = await asyncpg.connect(urls.owner)
    written = []
    try:
        for _ in range(count):
            async with conn.transaction():
                written.append(await insert_notification(conn))
                await asyncio.sleep(rng.uniform(0, 0.01))
    finally:
        await conn.close()
    return written


async def test_concurrent_writers_and_a_polling_reader_lose_and_repeat_nothing(
    client: httpx.AsyncClient, tokens: Tokens, database: DatabaseURLs
) -> None:
    rng = random.Random(4)
    token = tokens.la(org=CAMDEN)
    writers = asyncio.gather(*(_writer(database, 25, rng) for _ in range(6)))
    seen: list[str] = []
    cursor = None
    while not writers.done():
        items, cursor = await read_all(client, token, cursor, rng.randint(1, 9))
        seen += [i["id"] for i in items]
    written = {str(nid) for batch in await writers for nid in batch}
    items, _ = await read_all(client, token, cursor, 10)
    seen += [i["id"] for i in items]
    assert len(seen) == len(set(seen)) == 150
    assert set(seen) == written


async def test_feed_refuses_callers_without_the_notifications_scope(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    upload_only = tokens.mint({"sub": "la", "org_code": CAMDEN, "scope": "cpis:upload"})
    for token in (tokens.clinician(), tokens.admin(), tokens.auditor(), upload_only):
        assert (await feed(client, token)).status_code == 403
    assert (await client.get("/v1/notifications")).status_code == 401


async def test_feed_rejects_a_forged_cursor_and_out_of_range_limits(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    token = tokens.la(org=CAMDEN)
    for after in ("not-a-cursor", "MTIz", "x" * 300):
        response = await feed(client, token, after)
        assert response.status_code == 422, after
    assert (await feed(client, token, None, 0)).status_code == 422
    assert (await feed(client, token, None, 1001)).status_code == 422
    assert (await feed(client, token, "not-a-cursor")).json()["code"] == "invalid-cursor"
