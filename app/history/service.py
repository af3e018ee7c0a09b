"""Who may read a child's access history, and the search itself (audited)."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import SCOPE_AUDIT, SCOPE_HISTORY, ServiceClient, actor_of
from app.errors import Forbidden, InvalidRequest
from app.history import repository
from app.history.schemas import HistoryEntry, HistoryPage, HistorySearch

_CURSOR_PREFIX = "h1:"


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor points below; InvalidRequest for anything we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if raw.startswith(_CURSOR_PREFIX):
            seq = int(raw.removeprefix(_CURSOR_PREFIX))
            if 0 < seq < 2**63:
                return seq
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidRequest("cursor is not one this service issued")


async def may_read(session: AsyncSession, caller: ServiceClient, nhs_number: str) -> bool:
    """Auditors read any child; an authority only children it holds or held a plan for."""
    if caller.has(SCOPE_AUDIT):
        return True
    if caller.has(SCOPE_HISTORY) and caller.org_code is not None:
        return await repository.holds_a_plan(session, caller.org_code, nhs_number)
    raise Forbidden("access history needs scope cpis:history or cpis:audit")


async def search(
    session: AsyncSession, caller: ServiceClient, query: HistorySearch, *, request_id: str | None
) -> HistoryPage | None:
    """One page of a child's access history, or None when the caller may not see it.

    None (rendered as 404) is the same for a child held by another authority and
    for an NHS number never seen, so the answer reveals nothing about other
    authorities' children. Both outcomes are recorded (``history-search``) with the
    filters only, never the results, and commit with the request.
    """
    if query.since and query.until and query.since >= query.until:
        raise InvalidRequest("since must be before until")
    before = decode_cursor(query.cursor) if query.cursor else None
    allowed = await may_read(session, caller, query.nhs_number)
    await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.HISTORY_SEARCH,
            actor=actor_of(caller),
            request_id=request_id,
            subject_nhs_number=query.nhs_number,
            detail={
                "since": query.since.isoformat() if query.since else None,
                "until": query.until.isoformat() if query.until else None,
                "limit": query.limit,
                "next_page": before is not None,
                "outcome": "shown" if allowed else "not-found",
            },
        ),
    )
    if not allowed:
        return None
    rows = await repository.accesses(
        session,
        query.nhs_number,
        before=before,
        since=query.since,
        until=query.until,
        limit=query.limit + 1,  # one extra row tells whether another page exists
    )
    page = rows[: query.limit]
    more = len(rows) > query.limit
    return HistoryPage(
        items=[HistoryEntry.model_validate(dict(row)) for row in page],
        next_cursor=encode_cursor(page[-1]["seq"]) if more else None,
    )
