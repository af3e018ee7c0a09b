"""Idempotency and ordering: sequences per authority, replays, conflicts, the audit event."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import httpx

from tests.conftest import Tokens
from tests.ingest.helpers import csv_body, plans_of, upload, upload_count
from tests.support import CAMDEN, CHILD_A, CHILD_B, LEEDS

FILE_ONE = csv_body(f"{CHILD_A},CPP,2026-01-05,,,ONE", "bad,CPP,2026-01-05,,,")


async def test_same_sequence_and_same_bytes_answers_200_with_the_original_and_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    first = await upload(client, tokens, FILE_ONE, sequence=5)
    assert first.status_code == 201
    await owner_db.execute("UPDATE plans SET local_id = 'CHANGED SINCE'")
    before = await plans_of(owner_db)
    again = await upload(client, tokens, FILE_ONE, sequence=5)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await plans_of(owner_db) == before
    assert await upload_count(owner_db) == 1
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'upload'") == 1


async def test_same_sequence_with_different_bytes_is_409_sequence_conflict(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await upload(client, tokens, FILE_ONE, sequence=5)
    other = await upload(client, tokens, csv_body(f"{CHILD_B},CPP,2026-01-05,,,"), sequence=5)
    assert (other.status_code, other.json()["code"]) == (409, "sequence-conflict")
    assert [p[0] for p in await plans_of(owner_db)] == [CHILD_A]


async def test_lower_sequence_is_409_stale_and_gaps_are_fine(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    assert (await upload(client, tokens, FILE_ONE, sequence=10)).status_code == 201
    stale = await upload(client, tokens, csv_body(f"{CHILD_B},CPP,2026-01-05,,,"), sequence=9)
    assert (stale.status_code, stale.json()["code"]) == (409, "stale-sequence")
    gap = await upload(client, tokens, csv_body(f"{CHILD_B},CPP,2026-01-05,,,"), sequence=20)
    assert gap.status_code == 201
    assert await upload_count(owner_db) == 2


async def test_sequences_belong_to_each_authority(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    assert (await upload(client, tokens, FILE_ONE, sequence=10, org=CAMDEN)).status_code == 201
    assert (await upload(client, tokens, FILE_ONE, sequence=3, org=LEEDS)).status_code == 201


async def test_an_upload_is_audited_with_counts_and_hash_but_no_nhs_numbers(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    response = await upload(client, tokens, FILE_ONE, sequence=5)
    event = await owner_db.fetchrow(
        "SELECT actor::text, detail::text, request_id, subject_nhs_number FROM audit_events"
        " WHERE kind = 'upload'"
    )
    assert event is not None
    assert f'"org_code": "{CAMDEN}"' in event["actor"]
    detail = event["detail"]
    for fragment in (
        '"sequence": 5',
        '"accepted": 1',
        '"rejected": 1',
        f'"sha256": "{hashlib.sha256(FILE_ONE).hexdigest()}"',
        response.json()["upload_id"],
    ):
        assert fragment in detail
    assert CHILD_A not in detail
    assert event["subject_nhs_number"] is None
    assert event["request_id"] == response.headers["x-request-id"]


async def test_two_uploads_from_one_authority_at_once_do_not_interleave(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    rows = [f"{CHILD_A},CPP,2026-01-05,,,A", f"{CHILD_B},LAC,2026-01-05,,,B"]
    results = await asyncio.gather(
        upload(client, tokens, csv_body(rows[0]), sequence=1, mode="snapshot"),
        upload(
            client,
            tokens,
            csv_body(rows[1]),
            sequence=2,
            mode="snapshot",
            allow_mass_withdrawal="true",
        ),
    )
    codes = sorted(r.status_code for r in results)
    # Serialised: either 1 then 2 (both 201, only B left visible), or 2 then 1 (1 is stale).
    assert codes in ([201, 201], [201, 409])
    visible = [p for p in await plans_of(owner_db) if not p[6]]
    assert len(visible) == 1


async def test_one_authoritys_upload_waits_for_its_own_lock_but_not_for_anothers(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    from app.ingest.repository import UPLOAD_LOCK_SPACE

    body = csv_body(f"{CHILD_A},CPP,2026-01-05,,,")
    async with owner_db.transaction():
        await owner_db.execute(
            "SELECT pg_advisory_xact_lock($1, $2)", UPLOAD_LOCK_SPACE, int(CAMDEN[1:])
        )
        camden = asyncio.create_task(upload(client, tokens, body, org=CAMDEN))
        leeds = await asyncio.wait_for(upload(client, tokens, body, org=LEEDS), timeout=10)
        assert leeds.status_code == 201
        await asyncio.sleep(0.3)
        assert not camden.done()
    assert (await asyncio.wait_for(camden, timeout=10)).status_code == 201
