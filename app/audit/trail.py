"""Opening the trail to auditors: reading it and verifying it, both themselves audited."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import repository
from app.audit.schemas import AuditKind, NewAuditEvent
from app.audit.service import record, verify
from app.audit.views import AuditEventPage, AuditEventView, ChainHeadView, VerifyReport
from app.auth.principals import Principal, actor_of
from app.db.session import transaction


async def list_events(
    session: AsyncSession,
    reader: Principal,
    *,
    after: int,
    limit: int,
    kind: AuditKind | None,
    request_id: str | None,
) -> AuditEventPage:
    """Events with seq above ``after`` in seq order; the read is recorded (``audit-read``).

    The read is appended after the page is taken, so a reader never receives its
    own read in the same page.
    """
    rows = await repository.events_page(
        session, after=after, limit=limit, kind=kind.value if kind else None
    )
    await record(
        session,
        NewAuditEvent(
            kind=AuditKind.AUDIT_READ,
            actor=actor_of(reader),
            request_id=request_id,
            detail={
                "read": "events",
                "after": after,
                "limit": limit,
                "kind": kind.value if kind else None,
                "returned": len(rows),
            },
        ),
    )
    items = [
        AuditEventView(
            **{k: v for k, v in row._asdict().items() if k not in ("chain", "prev_hash", "hash")},
            chain=str(row.chain),
            prev_hash=row.prev_hash.hex() if row.prev_hash is not None else None,
            hash=row.hash.hex(),
        )
        for row in rows
    ]
    next_cursor = str(rows[-1].seq) if rows and len(rows) == limit else None
    return AuditEventPage(items=items, next_cursor=next_cursor)


async def verify_trail(
    maker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    reader: Principal,
    *,
    request_id: str | None,
) -> VerifyReport:
    """Verify every chain on a snapshot of its own; record the verdict in ``session``."""
    async with transaction(maker) as snapshot:
        result = await verify(snapshot, serving=True)
    await record(
        session,
        NewAuditEvent(
            kind=AuditKind.AUDIT_READ,
            actor=actor_of(reader),
            request_id=request_id,
            detail={
                "read": "verify",
                "ok": result.ok,
                "events_checked": result.events_checked,
                "first_bad_seq": result.first_bad_seq,
            },
        ),
    )
    return VerifyReport(
        ok=result.ok,
        events_checked=result.events_checked,
        heads=[ChainHeadView.model_validate(head) for head in result.heads],
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
    )
