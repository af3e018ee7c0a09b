"""The audit trail: written with every lookup, append-only, tamper-evident, fail-closed."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import asyncpg
import httpx
import pytest

from app.audit import verify as verify_module
from app.db.session import DatabaseURLs
from tests import support
from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, UNKNOWN, add_plan, verify_trail


async def look_up(client: httpx.AsyncClient, token: str, nhs: str = CHILD_A) -> httpx.Response:
    body = {"nhs_number": nhs, "care_setting": "minor-injury-unit"}
    return await client.post(
        "/v1/lookups", json=body, headers={**bearer(token), "X-Request-ID": "req-123"}
    )


async def test_found_and_not_found_lookups_are_both_audited_with_the_request_id(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    found = await look_up(client, tokens.clinician(), CHILD_A)
    missing = await look_up(client, tokens.clinician(), UNKNOWN)
    assert found.headers["X-Request-ID"] == "req-123"
    rows = await owner_db.fetch(
        "SELECT kind, subject_nhs_number, request_id, detail::text, care_setting"
        " FROM audit_events ORDER BY seq"
    )
    assert [(r["kind"], r["subject_nhs_number"], r["request_id"]) for r in rows] == [
        ("lookup", CHILD_A, "req-123"),
        ("lookup", UNKNOWN, "req-123"),
    ]
    assert found.json()["access_id"] in rows[0]["detail"]
    assert missing.json()["access_id"] in rows[1]["detail"]
    assert '"plans_shown": 0' in rows[1]["detail"]


async def test_request_without_a_valid_token_is_401_and_not_audited(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/v1/lookups", json={"nhs_number": CHILD_A, "care_setting": "other"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_lookup_fails_closed_with_503_when_the_audit_row_cannot_be_written(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    await owner_db.execute("REVOKE INSERT ON audit_events FROM cpis_app")
    response = await look_up(client, tokens.clinician())
    assert response.status_code == 503
    assert response.json()["code"] == "service-unavailable"
    assert CHILD_A not in response.text
    assert "plans" not in response.json()
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_a_failure_at_commit_answers_503_not_the_plans(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    """The transaction commits before the response is sent, so a failed commit is visible."""
    await add_plan(owner_db, CHILD_A)
    await owner_db.execute(
        """
        CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'simulated failure at commit'; END $$;
        CREATE CONSTRAINT TRIGGER audit_fails_at_commit AFTER INSERT ON audit_events
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();
        """
    )
    response = await look_up(client, tokens.clinician())
    assert response.status_code == 503
    assert "plans" not in response.json()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET kind = 'lookup'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_audit_rows_cannot_be_changed_even_by_the_table_owner(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, statement: str
) -> None:
    await look_up(client, tokens.clinician())
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner_db.execute(statement)
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET kind = 'lookup'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    ],
)
async def test_the_service_role_cannot_change_or_unprotect_audit_rows(
    client: httpx.AsyncClient, tokens: Tokens, database: DatabaseURLs, statement: str
) -> None:
    await look_up(client, tokens.clinician())
    service = await asyncpg.connect(database.service)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await service.execute(statement)
    finally:
        await service.close()


async def test_verify_accepts_an_untouched_trail(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    for _ in range(40):
        assert (await look_up(client, tokens.clinician())).status_code == 200
    result = await verify_trail(database)
    assert result.ok, result.reason
    assert result.events_checked == 40
    assert sum(1 for _ in result.heads) >= 1


async def test_verify_hashes_off_the_event_loop_so_lookups_are_served_meanwhile(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_plan(owner_db, CHILD_A)
    assert (await look_up(client, tokens.clinician())).status_code == 200
    hashing, hashed = threading.Event(), threading.Event()
    check_batch = verify_module._check_batch

    def slow_batch(*args: Any) -> None:  # a batch that holds its thread for a second
        hashing.set()
        time.sleep(1)
        check_batch(*args)
        hashed.set()

    monkeypatch.setattr(verify_module, "_check_batch", slow_batch)
    verifying = asyncio.create_task(
        client.get("/v1/audit/verify", headers=bearer(tokens.auditor()))
    )
    assert await asyncio.to_thread(hashing.wait, 10)
    assert (await look_up(client, tokens.clinician())).status_code == 200
    assert not hashed.is_set(), "the lookup waited for the batch: hashing blocked the loop"
    report = (await verifying).json()
    assert report["ok"] is True
    assert report["events_checked"] == 1


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("UPDATE audit_events SET care_setting = 'dental' WHERE seq = {mid}", "altered"),
        ("DELETE FROM audit_events WHERE seq = {mid}", "inserted, deleted or reordered"),
        ("DELETE FROM audit_events WHERE seq = {last}", "newest events were deleted"),
        (
            "INSERT INTO audit_events SELECT {last} + 1000, chain, kind, occurred_at, actor_id,"
            " actor, subject_nhs_number, unscheduled, care_setting, request_id, detail,"
            " prev_hash, hash FROM audit_events WHERE seq = {mid}",
            "inserted, deleted or reordered",
        ),
    ],
)
async def test_verify_names_the_first_tampered_event(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    database: DatabaseURLs,
    tamper: str,
    reason: str,
) -> None:
    await owner_db.execute("DELETE FROM audit_chain_heads WHERE chain > 0")  # one chain: ordered
    for _ in range(6):
        await look_up(client, tokens.clinician())
    seqs = [r["seq"] for r in await owner_db.fetch("SELECT seq FROM audit_events ORDER BY seq")]
    await support.tamper(owner_db, tamper.format(mid=seqs[2], last=seqs[-1]))
    result = await verify_trail(database)
    assert result.ok is False
    assert result.reason is not None
    assert reason in result.reason
    assert result.first_bad_seq is not None


async def test_verify_detects_two_events_swapped(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await owner_db.execute("DELETE FROM audit_chain_heads WHERE chain > 0")
    for _ in range(4):
        await look_up(client, tokens.clinician())
    seqs = [r["seq"] for r in await owner_db.fetch("SELECT seq FROM audit_events ORDER BY seq")]
    a, b = seqs[1], seqs[2]
    await support.tamper(
        owner_db,
        f"UPDATE audit_events SET seq = -1 WHERE seq = {a};"
        f" UPDATE audit_events SET seq = {a} WHERE seq = {b};"
        f" UPDATE audit_events SET seq = {b} WHERE seq = -1",
    )
    result = await verify_trail(database)
    assert result.ok is False
    assert result.first_bad_seq == a


async def test_concurrent_lookups_spread_over_chains_and_every_chain_verifies(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    token = tokens.clinician()
    responses = await asyncio.gather(*(look_up(client, token) for _ in range(60)))
    assert {r.status_code for r in responses} == {200}
    chains = await owner_db.fetchval("SELECT count(DISTINCT chain) FROM audit_events")
    assert chains > 1
    result = await verify_trail(database)
    assert result.ok, result.reason
    assert result.events_checked == 60
