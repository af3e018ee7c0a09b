"""The lookup under contention: busy audit chains, and looks at one child at the same moment."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx

from app.db.session import DatabaseURLs
from app.patterns.repository import LOCK_CHILD, LOCK_CLASS
from tests.conftest import Tokens, bearer
from tests.support import (
    CAMDEN,
    CHILD_A,
    CHILD_B,
    UNKNOWN,
    add_plan,
    verify_trail,
    wait_for_lock_waiters,
)

BODY = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}


async def _look_up_with_every_head_busy(
    client: httpx.AsyncClient, token: str, owner_db: asyncpg.Connection, nhs_number: str
) -> httpx.Response:
    """A lookup started while another transaction holds all sixteen chain heads: it must
    wait, then complete once they are free."""
    blocker = owner_db.transaction()
    await blocker.start()
    await owner_db.execute("SELECT chain FROM audit_chain_heads FOR UPDATE")
    body = {**BODY, "nhs_number": nhs_number}
    lookup = asyncio.create_task(client.post("/v1/lookups", json=body, headers=bearer(token)))
    try:
        await wait_for_lock_waiters(owner_db, 1)
        assert not lookup.done()
    finally:
        await blocker.rollback()
    return await lookup


async def test_a_lookup_queues_for_a_chain_head_when_every_head_is_busy(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await _look_up_with_every_head_busy(client, tokens.clinician(), owner_db, CHILD_A)
    assert response.status_code == 200
    body = response.json()
    assert body["has_plans"] is True
    assert [h["user_name"] for h in body["access_history"]] == ["Dr Ada Example"]
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'lookup'") == 1
    notified = await owner_db.fetchval(
        "SELECT count(*) FROM notifications WHERE type = 'access' AND local_authority_code = $1",
        CAMDEN,
    )
    assert notified == 1


async def test_unscheduled_looks_at_one_child_see_each_other(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    # Two looks by one user at the same moment: whichever commits second must see the
    # first, so the user is listed once (their first look), in both answers.
    await add_plan(owner_db, CHILD_A)
    token = tokens.clinician()
    blocker = owner_db.transaction()
    await blocker.start()
    await owner_db.execute(LOCK_CHILD, LOCK_CLASS, CHILD_A)
    looks = [
        asyncio.create_task(client.post("/v1/lookups", json=BODY, headers=bearer(token)))
        for _ in range(2)
    ]
    try:
        await wait_for_lock_waiters(owner_db, 2)
    finally:
        await blocker.rollback()
    answers = [(await look).json() for look in looks]
    listed = sorted(len(answer["access_history"]) for answer in answers)
    assert listed == [1, 1]
    firsts = {answer["access_history"][0]["accessed_at"] for answer in answers}
    assert len(firsts) == 1  # both list the same (first) look
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'lookup'") == 2


async def test_an_unflagged_lookup_queues_for_a_head_too(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    # Its one-statement path finds no free head and falls back to the transaction's.
    response = await _look_up_with_every_head_busy(client, tokens.clinician(), owner_db, UNKNOWN)
    assert response.status_code == 200
    assert response.json()["has_plans"] is False
    detail = await owner_db.fetchval("SELECT detail FROM audit_events WHERE kind = 'lookup'")
    assert json.loads(detail)["plans_shown"] == 0


async def test_both_lookup_paths_append_to_the_same_verifiable_chains(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    # Unflagged lookups hash their event in SQL, flagged ones in Python: one trail.
    await add_plan(owner_db, CHILD_A)
    bodies = [{**BODY, "nhs_number": nhs} for nhs in (CHILD_A, UNKNOWN, CHILD_B)] * 10
    responses = await asyncio.gather(
        *(client.post("/v1/lookups", json=b, headers=bearer(tokens.clinician())) for b in bodies)
    )
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert [r.json()["has_plans"] for r in responses[:3]] == [True, False, False]
    result = await verify_trail(database)
    assert result.ok, result.reason
    assert result.events_checked == len(bodies)


async def test_a_lookup_locks_only_the_chain_head_it_appends_to(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    # A row lock leaves its mark (xmax) on the head's row, and costs a WAL record: a
    # flagged child's lookup must not lock a head in its first statement and then take
    # another in its transaction.
    await add_plan(owner_db, CHILD_A)
    heads = "SELECT chain, xmin::text, xmax::text FROM audit_chain_heads"
    for nhs in (CHILD_A, UNKNOWN) * 4:
        before = set(await owner_db.fetch(heads))
        response = await client.post(
            "/v1/lookups", json={**BODY, "nhs_number": nhs}, headers=bearer(tokens.clinician())
        )
        assert response.status_code == 200
        assert len(before - set(await owner_db.fetch(heads))) == 1, nhs
