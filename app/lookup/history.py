"""The access history read on its own (the FHIR AuditEvent search), not as part of a lookup."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import HealthUser, actor_of
from app.errors import Forbidden
from app.lookup import repository


class HistoryEntry(BaseModel):
    """One listed unscheduled access, with what an audit record of it needs."""

    accessed_at: datetime
    actor_id: str | None
    user_name: str | None
    role_name: str | None
    org_code: str | None
    org_name: str | None
    care_setting: str | None
    request_id: str | None


async def recent_accesses(
    session: AsyncSession,
    user: HealthUser,
    nhs_number: str,
    *,
    request_id: str | None,
    today: date,
    interface: str,
) -> list[HistoryEntry]:
    """The §3.1 access history of ``nhs_number``, recorded as a history read.

    The same 25-entry, 24-hour de-duplicated list the lookup shows, from the same
    query, and empty unless the NHS number has a visible plan (as in the lookup:
    a history alone would reveal that the child is or was flagged). Reading it is
    audited as ``history-search``; it is not an access, so it adds no history entry
    and notifies nobody. Any health user allowed to look up (B0107 or B0170) may read it.
    """
    if not user.can_view:
        raise Forbidden("the selected role has no CP-IS activity (B0107 or B0170)")
    flagged = bool(await repository.visible_plans(session, nhs_number, today))
    rows = await repository.unscheduled_history(session, nhs_number) if flagged else []
    await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.HISTORY_SEARCH,
            actor=actor_of(user),
            request_id=request_id,
            detail={"interface": interface, "entries_shown": len(rows)},
            subject_nhs_number=nhs_number,
        ),
    )
    return [HistoryEntry.model_validate(dict(row)) for row in rows]
