"""``cpis audit verify``: exit codes, the first bad event named, and every kind of tampering."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.db.session import DatabaseURLs
from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, tamper

ROOT = Path(__file__).resolve().parents[2]


async def cpis(database: DatabaseURLs, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database.owner,
        "CPIS_APP_DATABASE_URL": database.service,
        "CPIS_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def single_chain_lookups(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, count: int
) -> list[int]:
    await owner_db.execute("DELETE FROM audit_chain_heads WHERE chain > 0")  # one chain: ordered
    body = {"nhs_number": CHILD_A, "care_setting": "minor-injury-unit"}
    for _ in range(count):
        await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    return [r["seq"] for r in await owner_db.fetch("SELECT seq FROM audit_events ORDER BY seq")]


async def test_an_intact_trail_exits_0_with_the_count(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await single_chain_lookups(client, tokens, owner_db, 3)
    code, out, err = await cpis(database, "audit", "verify")
    assert code == 0, err
    assert '"ok": true' in out
    assert "audit trail intact: 3 events" in err
    assert "\r" not in err  # no progress bar when stderr is not a terminal


_COPY = (
    "INSERT INTO audit_events SELECT {seq}, {chain}, kind, occurred_at, actor_id, actor,"
    " subject_nhs_number, unscheduled, care_setting, request_id, detail, prev_hash, hash"
    " FROM audit_events WHERE seq = {mid}"
)


@pytest.mark.parametrize(
    ("statement", "bad", "reason"),
    [
        ("UPDATE audit_events SET detail = '{{}}' WHERE seq = {mid}", "mid", "altered"),
        ("DELETE FROM audit_events WHERE seq = {mid}", "next", "inserted, deleted or reordered"),
        (_COPY.format(seq="{mid} + 1000", chain="chain", mid="{mid}"), "mid+1000", "inserted"),
        (_COPY.format(seq="{mid} + 1000", chain=7, mid="{mid}"), "mid+1000", "does not exist"),
        ("DELETE FROM audit_events WHERE seq = {last}", "last", "newest events were deleted"),
        (
            "UPDATE audit_events SET seq = -1 WHERE seq = {mid};"
            " UPDATE audit_events SET seq = {mid} WHERE seq = {next};"
            " UPDATE audit_events SET seq = {next} WHERE seq = -1",
            "mid",
            "reordered",
        ),
    ],
    ids=["modified", "deleted", "inserted", "inserted-on-a-new-chain", "truncated", "reordered"],
)
async def test_tampering_exits_1_naming_the_first_bad_event(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    database: DatabaseURLs,
    statement: str,
    bad: str,
    reason: str,
) -> None:
    seqs = await single_chain_lookups(client, tokens, owner_db, 5)
    at = {"mid": seqs[2], "next": seqs[3], "last": seqs[-1]}
    await tamper(owner_db, statement.format(**at))
    code, out, err = await cpis(database, "audit", "verify")
    expected = seqs[2] + 1000 if bad == "mid+1000" else at[bad]
    assert code == 1
    assert '"ok": false' in out
    assert f"AUDIT TRAIL BROKEN at event seq {expected}:" in err
    assert reason in err
