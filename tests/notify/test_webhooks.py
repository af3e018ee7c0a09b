"""Webhook delivery to a real local HTTP receiver: signed, retried, restart-proof, isolated."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.db.session import DatabaseURLs
from tests.conftest import Tokens, bearer
from tests.notify.receiver import Receiver
from tests.notify.webhook_support import SECRET, delivery_states, fast, running_app, set_webhook
from tests.support import CAMDEN, CHILD_A, LEEDS, add_plan


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()


async def look_up(client: httpx.AsyncClient, tokens: Tokens) -> None:
    body = {"nhs_number": CHILD_A, "care_setting": "minor-injury-unit"}
    response = await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    assert response.status_code == 200


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - polling the database is the point
            await asyncio.sleep(0.02)


def all_delivered(db: asyncpg.Connection, code: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = await delivery_states(db, code)
        return len(rows) == count and all(r["state"] == "delivered" for r in rows)

    return check


async def test_each_notification_is_posted_signed_with_the_authoritys_secret(
    settings: Settings,
    database: DatabaseURLs,
    owner_db: asyncpg.Connection,
    tokens: Tokens,
    receiver: Receiver,
) -> None:
    await add_plan(owner_db, CHILD_A)
    entry = {"name": "Camden", "webhook_url": receiver.url("/camden"), "webhook_secret": SECRET}
    async with running_app(fast(settings), database) as client:
        admin = bearer(tokens.admin())
        put = await client.put(f"/v1/local-authorities/{CAMDEN}", json=entry, headers=admin)
        assert put.status_code == 200
        await look_up(client, tokens)
        [got] = await receiver.wait_for("/camden", 1)
        feed = await client.get("/v1/notifications", headers=bearer(tokens.la(org=CAMDEN)))
        await eventually(all_delivered(owner_db, CAMDEN, 1))
        deliveries = await client.get(f"/v1/local-authorities/{CAMDEN}/deliveries", headers=admin)
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-cpis-signature"] == f"sha256={expected}"
    assert got.headers["content-type"] == "application/json"
    [item] = feed.json()["items"]
    assert got.headers["x-cpis-notification-id"] == item["id"]
    assert json.loads(got.body) == {k: v for k, v in item.items() if k != "cursor"}
    [state] = deliveries.json()["items"]
    assert (state["notification_id"], state["state"], state["attempts"]) == (
        item["id"],
        "delivered",
        1,
    )


async def test_a_delivery_answered_with_500s_is_retried_until_a_2xx(
    settings: Settings,
    database: DatabaseURLs,
    owner_db: asyncpg.Connection,
    tokens: Tokens,
    receiver: Receiver,
) -> None:
    await add_plan(owner_db, CHILD_A)
    await set_webhook(owner_db, CAMDEN, receiver.url("/camden"))
    receiver.script("/camden", (500, 0), (503, 0))
    async with running_app(fast(settings, webhook_retry_base_seconds=0.4), database) as client:
        await look_up(client, tokens)
        await receiver.wait_for("/camden", 1)

        async def failing() -> bool:
            return [r["state"] for r in await delivery_states(owner_db, CAMDEN)] == ["failing"]

        await eventually(failing)
        admin = bearer(tokens.admin())
        shown = await client.get(
            f"/v1/local-authorities/{CAMDEN}/deliveries?state=failing", headers=admin
        )
        got = await receiver.wait_for("/camden", 3)
        await eventually(all_delivered(owner_db, CAMDEN, 1))
    [failing_view] = shown.json()["items"]
    assert failing_view["last_error"] in {"HTTP 500", "HTTP 503"}
    assert failing_view["next_attempt_at"] is not None
    assert len({r.headers["x-cpis-notification-id"] for r in got}) == 1
    assert [r["attempts"] for r in await delivery_states(owner_db, CAMDEN)] == [3]


async def test_a_delivery_that_times_out_is_retried(
    settings: Settings,
    database: DatabaseURLs,
    owner_db: asyncpg.Connection,
    tokens: Tokens,
    receiver: Receiver,
) -> None:
    await add_plan(owner_db, CHILD_A)
    await set_webhook(owner_db, CAMDEN, receiver.url("/camden"))
    receiver.script("/camden", (200, 2.0))  # answers, but far too late
    async with running_app(fast(settings, webhook_timeout_seconds=0.3), database) as client:
        await look_up(client, tokens)
        got = await receiver.wait_for("/camden", 2)
        await eventually(all_delivered(owner_db, CAMDEN, 1))
    assert got[0].body == got[1].body
    [row] = await delivery_states(owner_db, CAMDEN)
    assert (row["attempts"], row["last_error"]) == (2, None)


async def test_deliveries_survive_a_restart_and_repeats_carry_the_same_id(
    settings: Settings,
    database: DatabaseURLs,
    owner_db: asyncpg.Connection,
    tokens: Tokens,
    receiver: Receiver,
) -> None:
    await add_plan(owner_db, CHILD_A)
    await set_webhook(owner_db, CAMDEN, receiver.url("/camden"))
    receiver.script("/camden", (200, 30.0))  # the first post hangs across the shutdown
    async with running_app(fast(settings, webhook_timeout_seconds=20), database) as client:
        for _ in range(3):
            await look_up(client, tokens)
        await receiver.wait_for("/camden", 1)
    states = await delivery_states(owner_db, CAMDEN)
    assert [r["state"] for r in states] == ["pending"] * 3
    async with running_app(fast(settings), database):
        await eventually(all_delivered(owner_db, CAMDEN, 3))
    ids = [r.headers["x-cpis-notification-id"] for r in receiver.at("/camden")]
    created = {str(r["id"]) for r in await owner_db.fetch("SELECT id FROM notifications")}
    assert set(ids) == created
    assert len(ids) == 4
    assert ids.count(ids[0]) == 2


async def test_two_dispatchers_on_one_database_post_each_notification_once(
    settings: Settings,
    database: DatabaseURLs,
    owner_db: asyncpg.Connection,
    tokens: Tokens,
    receiver: Receiver,
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await add_plan(owner_db, CHILD_A, authority=LEEDS)
    await set_webhook(owner_db, CAMDEN, receiver.url("/camden"))
    await set_webhook(owner_db, LEEDS, receiver.url("/leeds"))
    quick = fast(settings, webhook_poll_seconds=0.01)
    async with running_app(quick, database) as one, running_app(quick, database) as two:
        for i in range(10):
            await look_up(one if i % 2 else two, tokens)
        await eventually(all_delivered(owner_db, CAMDEN, 10))
        await eventually(all_delivered(owner_db, LEEDS, 10))
    ids = [r.headers["x-cpis-notification-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 20


async def test_a_dead_webhook_does_not_delay_another_authoritys_deliveries(
    settings: Settings,
    database: DatabaseURLs,
    owner_db: asyncpg.Connection,
    tokens: Tokens,
    receiver: Receiver,
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await add_plan(owner_db, CHILD_A, authority=LEEDS)
    await set_webhook(owner_db, CAMDEN, receiver.url("/camden"))
    await set_webhook(owner_db, LEEDS, receiver.url("/leeds"))
    receiver.script("/leeds", *[(200, 60.0)] * 10)  # never answers in time
    async with running_app(fast(settings, webhook_timeout_seconds=3.0), database) as client:
        for _ in range(3):
            await look_up(client, tokens)
        await receiver.wait_for("/leeds", 1)
        # All of Camden's arrive while Leeds' first post is still hanging.
        await receiver.wait_for("/camden", 3, within=2.5)
        leeds = await delivery_states(owner_db, LEEDS)
    assert len(receiver.at("/leeds")) == 1
    assert all(r["state"] != "delivered" for r in leeds)
