"""Recording and verifying the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository
from app.audit.chain import event_hash
from app.audit.schemas import AppendedEvent, NewAuditEvent


async def record(session: AsyncSession, event: NewAuditEvent) -> AppendedEvent:
    """Append ``event`` in the caller's transaction; it commits or vanishes with it."""
    return await repository.append(session, event)


@dataclass
class VerifyResult:
    ok: bool
    events_checked: int
    heads: list[dict[str, Any]] = field(default_factory=list)
    first_bad_seq: int | None = None
    reason: str | None = None


async def verify(session: AsyncSession) -> VerifyResult:
    """Recompute every chain from its first event; report the first break found."""
    last: dict[int, tuple[int, bytes]] = {}
    checked = 0
    async for rows in repository.events_in_seq_order(session):
        for row in rows:
            checked += 1
            previous = last.get(row.chain)
            expected_prev = previous[1] if previous else None
            if row.prev_hash != expected_prev:
                return _broken(
                    checked,
                    row.seq,
                    f"chain {row.chain} is broken before this "
                    "event (an event was inserted, deleted or reordered)",
                )
            if event_hash(row.prev_hash, row._asdict()) != row.hash:
                return _broken(
                    checked,
                    row.seq,
                    "event content does not match its hash (the event was altered)",
                )
            last[row.chain] = (row.seq, row.hash)
    heads = []
    for head in await repository.chain_heads(session):
        newest = last.get(head.chain)
        if (head.last_seq, head.last_hash) != (newest or (None, None)):
            bad_seq = newest[0] if newest else head.last_seq
            return _broken(
                checked,
                bad_seq,
                f"chain {head.chain} ends before its recorded "
                "head (its newest events were deleted)",
            )
        if newest:
            heads.append({"chain": str(head.chain), "seq": newest[0], "hash": newest[1].hex()})
    return VerifyResult(ok=True, events_checked=checked, heads=heads)


def _broken(checked: int, seq: int | None, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, events_checked=checked, first_bad_seq=seq, reason=reason)
