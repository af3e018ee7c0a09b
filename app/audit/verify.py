"""Recomputing every hash chain, fast enough for tens of millions of events.

The work is a single pass in ``seq`` order over one REPEATABLE READ snapshot, so
events committed while it runs can neither appear half-way nor be mistaken for
tampering at the chain heads. Measured choices (see docs/audit.md for figures):

- asyncpg directly, not the ORM: row objects and JSONB decoding through
  SQLAlchemy cost more than the hashing itself.
- the server sends each event's hashed fields as one JSON array (``occurred_at`` in the
  chain's canonical form), which orjson parses faster than any column codec.
- keyset batches on the primary key (never OFFSET), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

BATCH = 5_000

# Each event comes as one JSON array text of the fields the hash covers, built by the
# server (its spare core) rather than decoded column by column here: this process is the
# bottleneck, and orjson parses that array faster than asyncpg decodes eleven columns and
# the two JSON documents in them (make bench's 10 M-event trail, two alternating runs each
# on a slow 2-core machine: 94,000-97,000 events/s against 80,000-82,000). to_char reproduces
# chain.canonical_time exactly: UTC, microseconds, "Z". Re-encoded with sorted keys, the
# array is byte-identical to chain.event_hash's encoding (tests pin this).
_EVENTS = """
SELECT seq, chain,
       json_build_array(seq, chain, kind,
         to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
         actor_id, actor, subject_nhs_number, unscheduled, care_setting, request_id,
         detail)::text,
       prev_hash, hash
FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2
"""
_HEADS = "SELECT chain, last_seq, last_hash FROM audit_chain_heads ORDER BY chain"
_SPAN = "SELECT min(seq), max(seq) FROM audit_events"

# Called after each batch with (events checked so far, fraction of the seq range done).
Progress = Callable[[int, float], None]


@dataclass
class VerifyResult:
    ok: bool
    events_checked: int
    heads: list[dict[str, Any]] = field(default_factory=list)
    first_bad_seq: int | None = None
    reason: str | None = None


class ChainBroken(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


async def verify_snapshot(
    conn: asyncpg.Connection, progress: Progress | None = None, *, serving: bool = False
) -> VerifyResult:
    """Verify every chain as seen by ``conn``'s current (REPEATABLE READ) transaction.

    ``serving``: in a server, hash each batch on a worker thread, so that the event loop
    keeps serving lookups meanwhile: a batch holds the CPU for tens of milliseconds, a
    stall a registration desk would feel, while the GIL hands the loop back within its
    switch interval. The command line hashes inline, which is faster because the two
    threads contend for the GIL: on make bench's 10 M-event trail, 200,000-217,000
    events/s inline against 180,000-186,000 on a thread.
    """
    heads = {row[0]: (row[1], row[2]) for row in await conn.fetch(_HEADS)}
    low, high = await conn.fetchrow(_SPAN) or (None, None)
    last: dict[int, tuple[int, bytes]] = {}
    checked = 0
    after = -1
    rows = await conn.fetch(_EVENTS, after, BATCH)
    try:
        while rows:
            after = rows[-1][0]
            # Ask for the next batch before hashing this one: the server reads and
            # sends it while this process hashes (measured: ~30% faster than in turn).
            upcoming = asyncio.create_task(conn.fetch(_EVENTS, after, BATCH))
            await asyncio.sleep(0)  # let the task send its query
            try:
                if serving:
                    await asyncio.to_thread(_check_batch, rows, heads, last)
                else:
                    _check_batch(rows, heads, last)
            except ChainBroken:
                await upcoming
                raise
            checked += len(rows)
            if progress is not None and low is not None and high is not None:
                progress(checked, (after - low + 1) / (high - low + 1))
            rows = await upcoming
        tails = _check_heads(heads, last)
    except ChainBroken as broken:
        return VerifyResult(False, checked, first_bad_seq=broken.seq, reason=broken.reason)
    return VerifyResult(True, checked, heads=tails)


def _check_batch(
    rows: list[asyncpg.Record],
    heads: dict[int, tuple[int | None, bytes | None]],
    last: dict[int, tuple[int, bytes]],
) -> None:
    # The hot loop: locals only, one orjson round trip and one sha256 per event.
    dumps, loads, sha256, sort_keys = (
        orjson.dumps,
        orjson.loads,
        hashlib.sha256,
        orjson.OPT_SORT_KEYS,
    )
    for seq, chain, fields, prev, digest in rows:
        previous = last.get(chain)
        if previous is None and chain not in heads:
            raise ChainBroken(
                seq, f"event on chain {chain}, which does not exist (an event was inserted)"
            )
        if prev != (previous[1] if previous else None):
            raise ChainBroken(
                seq,
                f"chain {chain} is broken before this event "
                "(an event was inserted, deleted or reordered)",
            )
        encoded = dumps(loads(fields), option=sort_keys)
        if sha256((prev or b"") + encoded).digest() != digest:
            raise ChainBroken(seq, "event content does not match its hash (the event was altered)")
        last[chain] = (seq, digest)


def _check_heads(
    heads: dict[int, tuple[int | None, bytes | None]],
    last: dict[int, tuple[int, bytes]],
) -> list[dict[str, Any]]:
    tails = []
    for chain, (head_seq, head_hash) in sorted(heads.items()):
        newest = last.get(chain)
        if newest is None and head_seq is None:
            continue  # a chain never used
        if head_seq is not None and (newest is None or newest[0] < head_seq):
            raise ChainBroken(
                head_seq,
                f"chain {chain} ends before its recorded head at seq {head_seq} "
                "(its newest events were deleted)",
            )
        assert newest is not None
        if newest[0] != head_seq or newest[1] != head_hash:
            raise ChainBroken(
                newest[0],
                f"chain {chain} does not end at its recorded head "
                "(an event was appended outside the service)",
            )
        tails.append({"chain": str(chain), "seq": newest[0], "hash": newest[1].hex()})
    return tails
