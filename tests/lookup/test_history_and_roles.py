"""Access history, B0107/B0170 semantics and notifications of the lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from app.db.session import DatabaseURLs
from app.lookup.schemas import AccessEntry
from tests.conftest import Tokens, bearer
from tests.support import CAMDEN, CHILD_A, LEEDS, UNKNOWN, add_past_lookup, add_plan


async def look_up(
    client: httpx.AsyncClient, token: str, nhs: str = CHILD_A, **extra: object
) -> httpx.Response:
    body = {"nhs_number": nhs, "care_setting": "emergency-department", **extra}
    return await client.post("/v1/lookups", json=body, headers=bearer(token))


async def test_history_lists_the_current_unscheduled_look_newest_first(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    now = datetime.now(UTC)
    await add_past_lookup(database, CHILD_A, at=now - timedelta(days=3), sub="u-old")
    await add_past_lookup(database, CHILD_A, at=now - timedelta(days=1, hours=1), sub="u-mid")
    history = (await look_up(client, tokens.clinician())).json()["access_history"]
    assert [h["user_name"] for h in history] == ["Dr Ada Example", "Dr Past", "Dr Past"]
    assert history[0]["org_code"] == "RJ122"
    assert history[0]["care_setting"] == "emergency-department"
    times = [h["accessed_at"] for h in history]
    assert times == sorted(times, reverse=True)


async def test_history_entries_are_written_as_the_response_schema_writes_them(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    # The lookup's statement writes the history's JSON itself (app/lookup/repository.py):
    # it must match pydantic's rendering of AccessEntry, whole seconds and escapes included.
    await add_plan(owner_db, CHILD_A)
    whole = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    later = whole + timedelta(hours=1, microseconds=500_000)
    await add_past_lookup(database, CHILD_A, at=whole, sub="u1", name='Dr "Quoted" Ñame\\')
    await add_past_lookup(database, CHILD_A, at=later, sub="u2")
    answer = await look_up(client, tokens.clinician())
    rows = await owner_db.fetch(
        "SELECT occurred_at AS accessed_at, actor->>'name' AS user_name,"
        " actor->>'role_name' AS role_name, actor->>'org_code' AS org_code,"
        " actor->>'org_name' AS org_name, care_setting FROM audit_events"
        " WHERE kind = 'lookup' ORDER BY occurred_at DESC"
    )
    expected = [AccessEntry.model_validate(dict(row)).model_dump(mode="json") for row in rows]
    assert answer.json()["access_history"] == expected
    assert [entry["accessed_at"] for entry in expected[1:]] == [
        later.strftime("%Y-%m-%dT%H:%M:%S.500000Z"),
        whole.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]


async def test_history_is_limited_to_the_25_most_recent(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    now = datetime.now(UTC)
    for i in range(30):
        await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=i + 1), sub=f"u{i}")
    history = (await look_up(client, tokens.clinician())).json()["access_history"]
    assert len(history) == 25
    assert history[0]["user_name"] == "Dr Ada Example"


async def test_same_user_within_24_hours_is_listed_once_at_their_first_look(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    now = datetime.now(UTC)
    first = now - timedelta(hours=20)
    await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=50), sub="u1")
    await add_past_lookup(database, CHILD_A, at=first, sub="u1")
    await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=2), sub="u1")
    await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=1), sub="u2")
    token = tokens.clinician(sub="u3")
    await look_up(client, token)
    history = (await look_up(client, token)).json()["access_history"]
    assert len(history) == 4  # u3 once, u2, u1's first look of the day, u1 two days ago
    assert history[0]["user_name"] == "Dr Ada Example"
    listed = {datetime.fromisoformat(h["accessed_at"]) for h in history}
    assert first in listed
    assert now - timedelta(hours=2) not in listed


async def test_scheduled_reads_never_appear_in_history(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    await add_past_lookup(
        database, CHILD_A, at=datetime.now(UTC) - timedelta(hours=3), sub="gp", unscheduled=False
    )
    history = (await look_up(client, tokens.clinician(), unscheduled=False)).json()[
        "access_history"
    ]
    assert history == []


async def test_b0107_look_is_unscheduled_and_notifies_each_responsible_authority(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, plan_type="CPP")
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, plan_type="LAC")
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC")
    response = await look_up(client, tokens.clinician(("B0107",)))
    assert response.status_code == 200
    rows = await owner_db.fetch(
        "SELECT local_authority_code, type, nhs_number, payload FROM notifications"
        " ORDER BY local_authority_code"
    )
    assert [(r["local_authority_code"], r["type"]) for r in rows] == [
        (LEEDS, "access"),
        (CAMDEN, "access"),
    ]
    by_code = {r["local_authority_code"]: json.loads(r["payload"]) for r in rows}
    assert by_code[CAMDEN]["plan_types"] == ["CPP", "LAC"]
    assert by_code[LEEDS]["plan_types"] == ["LAC"]
    assert by_code[CAMDEN]["org_code"] == "RJ122"
    assert by_code[CAMDEN]["care_setting"] == "emergency-department"
    event = await owner_db.fetchrow("SELECT unscheduled FROM audit_events WHERE kind = 'lookup'")
    assert event["unscheduled"] is True


async def test_unscheduled_look_at_an_unflagged_child_notifies_nobody(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    assert (await look_up(client, tokens.clinician(), UNKNOWN)).status_code == 200
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_b0170_look_is_a_silent_read(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await look_up(client, tokens.clinician(("B0170",)))
    assert response.status_code == 200
    assert response.json()["has_plans"] is True
    assert response.json()["access_history"] == []
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0
    event = await owner_db.fetchrow("SELECT unscheduled, kind FROM audit_events")
    assert (event["kind"], event["unscheduled"]) == ("lookup", False)


async def test_b0170_asking_for_an_unscheduled_look_is_403_and_audited(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await look_up(client, tokens.clinician(("B0170",)), unscheduled=True)
    assert response.status_code == 403
    assert "plans" not in response.json()
    kinds = [r["kind"] for r in await owner_db.fetch("SELECT kind FROM audit_events")]
    assert kinds == ["access-denied"]
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_b0107_may_ask_for_a_scheduled_read(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await look_up(client, tokens.clinician(("B0107",)), unscheduled=False)
    assert response.status_code == 200
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_role_without_either_activity_is_403_and_audited(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await look_up(client, tokens.clinician(("B0999",)))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    row = await owner_db.fetchrow("SELECT kind, actor_id, detail FROM audit_events")
    assert (row["kind"], row["actor_id"]) == ("access-denied", "dev-clinician-0001")


async def test_service_token_cannot_look_up(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    response = await look_up(client, tokens.la())
    assert response.status_code == 403
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 1
