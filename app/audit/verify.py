"""Recomputing every hash chain, fast enough for tens of millions of events.

Verification reads one REPEATABLE READ snapshot, so events committed while it runs can
neither appear half-way nor be mistaken for tampering at the chain heads. Measured
choices (see docs/audit.md for figures):

- asyncpg directly, not the ORM: row objects and JSONB decoding through
  SQLAlchemy cost more than the hashing itself.
- the server sends each event's hashed fields as one JSON array (``occurred_at`` in the
  chain's canonical form), which orjson parses faster than any column codec.
- keyset batches on the primary key (never OFFSET), so memory stays bounded.
- on a large trail, the command splits the ``seq`` range into segments checked by worker
  processes on the same exported snapshot (``Workers``). An event's hash depends only on
  its own row and its ``prev_hash``, so each segment is checked on its own; what links one
  segment to the next (each chain's first ``prev_hash`` in a segment against its last hash
  before it) is checked afterwards, in ``seq`` order, so the verdict and the first bad
  event named are those of a single pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from multiprocessing import get_context
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
FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3
"""
_HEADS = "SELECT chain, last_seq, last_hash FROM audit_chain_heads ORDER BY chain"
_SPAN = "SELECT min(seq), max(seq) FROM audit_events"
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")

# Called as work completes with (events checked so far, fraction of the seq range done).
Progress = Callable[[int, float], None]


@dataclass(frozen=True)
class Workers:
    """How the command checks a large trail: ``processes`` worker processes, each reading
    segments of ``segment`` seq values on its own connection to ``dsn`` (plain asyncpg
    spelling) with ``server_settings``. A trail shorter than two segments is checked in
    one pass, as is any trail when ``processes`` is 1."""

    dsn: str
    server_settings: dict[str, str]
    processes: int
    segment: int = 250_000


def default_processes() -> int:
    """One worker per core this process may run on, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0))))


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


@dataclass
class Segment:
    """What a pass over the events with seq in (after, upto] found. Each chain's first
    event in the range is not checked against what came before: its (seq, prev_hash) is
    kept in ``first`` for ``_stitch``."""

    checked: int = 0
    first: dict[int, tuple[int, bytes | None]] = field(default_factory=dict)
    last: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # (seq, hash)
    broken: tuple[int, str] | None = None  # the range's first bad event: (seq, reason)


async def verify_snapshot(
    conn: asyncpg.Connection,
    progress: Progress | None = None,
    *,
    serving: bool = False,
    workers: Workers | None = None,
) -> VerifyResult:
    """Verify every chain as seen by ``conn``'s current (REPEATABLE READ) transaction.

    ``serving``: in a server, hash each batch on a worker thread, so that the event loop
    keeps serving lookups meanwhile: a batch holds the CPU for tens of milliseconds, a
    stall a registration desk would feel, while the GIL hands the loop back within its
    switch interval. The command line hashes inline, which is faster because the two
    threads contend for the GIL: on make bench's 10 M-event trail, 200,000-217,000
    events/s inline against 180,000-186,000 on a thread. ``workers``: the command's
    worker processes for a large trail (see the module's docstring).
    """
    heads = {row[0]: (row[1], row[2]) for row in await conn.fetch(_HEADS)}
    chains = set(heads)
    low, high = await conn.fetchrow(_SPAN) or (None, None)
    segments = [Segment()]
    if low is not None and high is not None:
        report = _Report(progress, low, high)
        if workers is None or workers.processes < 2 or high - low + 1 < 2 * workers.segment:
            segments = [await _scan(conn, chains, low - 1, high, report.batch, serving=serving)]
        else:
            segments = await _scan_in_processes(conn, workers, chains, low, high, report)
    last, checked, broken = _stitch(segments)
    tails: list[dict[str, Any]] = []
    if broken is None:
        try:
            tails = _check_heads(heads, last)
        except ChainBroken as at_head:
            broken = (at_head.seq, at_head.reason)
    if broken is not None:
        return VerifyResult(False, checked, first_bad_seq=broken[0], reason=broken[1])
    return VerifyResult(True, checked, heads=tails)


class _Report:
    """Progress as a share of the seq range, from batches (one pass) or segments."""

    def __init__(self, progress: Progress | None, low: int, high: int) -> None:
        self.progress, self.low, self.span = progress, low, high - low + 1
        self.checked = self.covered = 0

    def batch(self, rows: int, after: int) -> None:
        self.checked += rows
        if self.progress is not None:
            self.progress(self.checked, (after - self.low + 1) / self.span)

    def segment(self, rows: int, width: int) -> None:
        self.checked += rows
        self.covered += width
        if self.progress is not None:
            self.progress(self.checked, self.covered / self.span)


async def _scan(
    conn: asyncpg.Connection,
    chains: set[int],
    after: int,
    upto: int,
    report: Callable[[int, int], None] | None = None,
    *,
    serving: bool = False,
) -> Segment:
    """Check the events with seq in (after, upto], in seq order, on ``conn``'s snapshot."""
    segment = Segment()
    rows = await conn.fetch(_EVENTS, after, upto, BATCH)
    while rows:
        after = rows[-1][0]
        # Ask for the next batch before hashing this one: the server reads and
        # sends it while this process hashes (measured: ~30% faster than in turn).
        upcoming = asyncio.create_task(conn.fetch(_EVENTS, after, upto, BATCH))
        await asyncio.sleep(0)  # let the task send its query
        try:
            if serving:
                await asyncio.to_thread(_check_batch, rows, chains, segment)
            else:
                _check_batch(rows, chains, segment)
        except ChainBroken as broken:
            await upcoming
            segment.broken = (broken.seq, broken.reason)
            return segment
        segment.checked += len(rows)
        if report is not None:
            report(len(rows), after)
        rows = await upcoming
    return segment


async def _scan_in_processes(
    conn: asyncpg.Connection,
    workers: Workers,
    chains: set[int],
    low: int,
    high: int,
    report: _Report,
) -> list[Segment]:
    """Segments of (low - 1, high] checked by worker processes on ``conn``'s snapshot."""
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    # The snapshot lives as long as this transaction, which idles while the workers read:
    # the service's idle-in-transaction timeout must not end it.
    await conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
    bounds = [*range(low - 1, high, workers.segment), high]
    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(workers.processes, mp_context=get_context("spawn"))

    async def one(after: int, upto: int) -> Segment:
        segment: Segment = await loop.run_in_executor(
            pool, _scan_range, workers, snapshot, chains, after, upto
        )
        report.segment(segment.checked, upto - after)
        return segment

    try:
        return list(await asyncio.gather(*(one(a, b) for a, b in pairwise(bounds))))
    finally:
        pool.shutdown(cancel_futures=True)


def _scan_range(
    workers: Workers, snapshot: str, chains: set[int], after: int, upto: int
) -> Segment:
    """In a worker process: check (after, upto] on the exported ``snapshot``."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError("not a snapshot identifier")

    async def scan() -> Segment:
        conn = await asyncpg.connect(workers.dsn, server_settings=workers.server_settings)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                return await _scan(conn, chains, after, upto)
        finally:
            await conn.close()

    return asyncio.run(scan())


def _check_batch(rows: list[asyncpg.Record], chains: set[int], segment: Segment) -> None:
    # The hot loop: locals only, one orjson round trip and one sha256 per event.
    dumps, loads, sha256, sort_keys = (
        orjson.dumps,
        orjson.loads,
        hashlib.sha256,
        orjson.OPT_SORT_KEYS,
    )
    first, last = segment.first, segment.last
    for seq, chain, fields, prev, digest in rows:
        previous = last.get(chain)
        if previous is None:
            if chain not in chains:
                raise ChainBroken(
                    seq, f"event on chain {chain}, which does not exist (an event was inserted)"
                )
            first[chain] = (seq, prev)  # linked to what precedes the range by _stitch
        elif prev != previous[1]:
            raise ChainBroken(seq, _BROKEN_BEFORE.format(chain=chain))
        encoded = dumps(loads(fields), option=sort_keys)
        if sha256((prev or b"") + encoded).digest() != digest:
            raise ChainBroken(seq, "event content does not match its hash (the event was altered)")
        last[chain] = (seq, digest)


_BROKEN_BEFORE = (
    "chain {chain} is broken before this event (an event was inserted, deleted or reordered)"
)


def _stitch(
    segments: list[Segment],
) -> tuple[dict[int, tuple[int, bytes]], int, tuple[int, str] | None]:
    """Join segments in seq order: each chain's newest (seq, hash), the events checked, and
    the first bad event (seq, reason), if any. A chain's first event in a segment must
    follow its newest event before it (none: the chain's first event, with no prev_hash)."""
    last: dict[int, tuple[int, bytes]] = {}
    checked = 0
    for segment in segments:
        found = [
            (seq, _BROKEN_BEFORE.format(chain=chain))
            for chain, (seq, prev) in segment.first.items()
            if prev != (last[chain][1] if chain in last else None)
        ]
        if segment.broken is not None:
            found.append(segment.broken)
        checked += segment.checked
        if found:
            return last, checked, min(found, key=lambda bad: bad[0])
        last.update(segment.last)
    return last, checked, None


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
