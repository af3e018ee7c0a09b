"""``cpis purge`` and the in-server job: delete plans past retention, audited with counts."""

from __future__ import annotations

import getpass
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.observability.metrics import PLANS_PURGED
from app.retention import repository

SCHEDULED_ACTOR: dict[str, Any] = {"type": "system", "sub": "cpis-retention-job"}


def operator_actor() -> dict[str, Any]:
    """Who ran ``cpis purge``: the operating-system account, as far as it is known."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"type": "operator", "sub": f"os-user:{user}", "tool": "cpis purge"}


@dataclass(frozen=True)
class PurgeResult:
    ran: bool
    today: str
    plans_deleted: int = 0
    withdrawn_plans_deleted: int = 0
    by_plan_type: dict[str, int] = field(default_factory=dict)
    alerts_deleted: int = 0

    def as_detail(self) -> dict[str, Any]:
        return asdict(self)


async def purge(
    session: AsyncSession,
    *,
    today: date,
    actor: dict[str, Any],
    request_id: str | None = None,
    wait: bool = True,
) -> PurgeResult:
    """Delete every plan past retention (see repository.PAST_RETENTION) in the caller's
    transaction and record a ``purge`` event carrying counts only, never NHS numbers.

    Purges are serialised by an advisory lock. ``wait=False`` (the periodic job)
    gives up at once when another purge holds it: ``ran`` is then False and nothing
    is recorded. The audit trail is never touched, whatever is deleted.
    """
    if not await repository.take_purge_lock(session, wait=wait):
        return PurgeResult(ran=False, today=today.isoformat())
    groups = await repository.delete_plans_past_retention(session, today)
    by_type: Counter[str] = Counter()
    for plan_type, _, count in groups:
        by_type[plan_type] += count
    result = PurgeResult(
        ran=True,
        today=today.isoformat(),
        plans_deleted=sum(by_type.values()),
        withdrawn_plans_deleted=sum(count for _, withdrawn, count in groups if withdrawn),
        by_plan_type=dict(sorted(by_type.items())),
        alerts_deleted=await repository.delete_alerts_of_children_no_longer_held(session),
    )
    await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.PURGE, actor=actor, request_id=request_id, detail=result.as_detail()
        ),
    )
    PLANS_PURGED.inc(result.plans_deleted)
    return result
