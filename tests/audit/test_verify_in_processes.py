"""Verification split over worker processes gives the verdict of a single pass.

The command checks a large trail in segments of the seq range, one worker process each,
on one exported snapshot (app/audit/verify.py). Tampering that falls at a segment's edge
is caught only when the segments are joined, so every case below runs on segments small
enough that each holds only a few events of each chain, and is compared with one pass.
"""

from __future__ import annotations

import asyncpg
import pytest

from app.audit.verify import Workers
from app.config import Settings
from app.db.session import DatabaseURLs, server_settings
from app.db.urls import plain_url
from bench.load_audit_events import load
from tests.support import tamper, verify_trail

EVENTS = 600
SEGMENT = 40  # 15 segments: about 2.5 events of each of the 16 chains in each


def _workers(settings: Settings, urls: DatabaseURLs) -> Workers:
    return Workers(plain_url(urls.service), server_settings(settings, urls), 2, SEGMENT)


async def _edges(owner_db: asyncpg.Connection) -> dict[str, int]:
    """Seqs where tampering tests the joins: a chain's first event in a later segment, the
    last event of a chain in a segment (the next one's first event follows it), and others."""
    rows = await owner_db.fetch("SELECT seq, chain FROM audit_events ORDER BY seq")
    seqs = [r["seq"] for r in rows]
    low = seqs[0]
    segment_of = {r["seq"]: (r["seq"] - low) // SEGMENT for r in rows}
    middle = segment_of[seqs[len(seqs) // 2]]
    in_middle = [r for r in rows if segment_of[r["seq"]] == middle]
    first_in_middle = in_middle[0]  # its chain's first event in the segment, linked by the join
    last_of_chain_before = max(
        r["seq"]
        for r in rows
        if r["chain"] == first_in_middle["chain"] and r["seq"] < first_in_middle["seq"]
    )
    return {
        "edge": first_in_middle["seq"],
        "before_edge": last_of_chain_before,
        "inside": in_middle[len(in_middle) // 2]["seq"],
        "last": seqs[-1],
        "late": seqs[-SEGMENT // 2],
    }


async def test_an_intact_trail_verifies_the_same_in_processes(
    database: DatabaseURLs, settings: Settings
) -> None:
    await load(database.owner, EVENTS, children=50, seed=3)
    one_pass = await verify_trail(database)
    split = await verify_trail(database, _workers(settings, database))
    assert one_pass.ok, one_pass.reason
    assert split == one_pass
    assert split.events_checked == EVENTS


_COPY = (
    "INSERT INTO audit_events SELECT {seq}, {chain}, kind, occurred_at, actor_id, actor,"
    " subject_nhs_number, unscheduled, care_setting, request_id, detail, prev_hash, hash"
    " FROM audit_events WHERE seq = {of}"
)


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE audit_events SET care_setting = 'dental' WHERE seq = {edge}", "altered"),
        ("UPDATE audit_events SET care_setting = 'dental' WHERE seq = {inside}", "altered"),
        ("UPDATE audit_events SET prev_hash = NULL WHERE seq = {edge}", "broken before"),
        ("DELETE FROM audit_events WHERE seq = {before_edge}", "broken before"),
        ("DELETE FROM audit_events WHERE seq = {edge}", "broken before"),
        ("DELETE FROM audit_events WHERE seq = {inside}", "broken before"),
        ("DELETE FROM audit_events WHERE seq = {last}", "newest events were deleted"),
        (_COPY.format(seq="{last} + 1", chain="chain", of="{late}"), "broken before"),
        (_COPY.format(seq="{edge} - 1000", chain="chain", of="{edge}"), "broken before"),
        (_COPY.format(seq="{last} + 1", chain=99, of="{inside}"), "does not exist"),
        (
            "UPDATE audit_events SET seq = -1 WHERE seq = {before_edge};"
            " UPDATE audit_events SET seq = {before_edge} WHERE seq = {edge};"
            " UPDATE audit_events SET seq = {edge} WHERE seq = -1",
            "broken before",
        ),
    ],
    ids=[
        "altered-at-an-edge",
        "altered-inside",
        "unlinked-at-an-edge",
        "deleted-before-an-edge",
        "deleted-at-an-edge",
        "deleted-inside",
        "truncated",
        "appended",
        "inserted-before-the-first",
        "inserted-on-a-new-chain",
        "swapped-across-an-edge",
    ],
)
async def test_tampering_is_named_the_same_in_processes(
    database: DatabaseURLs,
    settings: Settings,
    owner_db: asyncpg.Connection,
    statement: str,
    reason: str,
) -> None:
    await load(database.owner, EVENTS, children=50, seed=3)
    await tamper(owner_db, statement.format(**await _edges(owner_db)))
    one_pass = await verify_trail(database)
    split = await verify_trail(database, _workers(settings, database))
    assert one_pass.ok is False
    assert one_pass.reason is not None
    assert reason in one_pass.reason
    assert (split.ok, split.first_bad_seq, split.reason) == (
        one_pass.ok,
        one_pass.first_bad_seq,
        one_pass.reason,
    )
