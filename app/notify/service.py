"""Creating notifications; delivery and the feed build on these rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principals import HealthUser
from app.notify import repository


def access_payloads(
    *,
    nhs_number: str,
    plan_types_by_authority: Mapping[str, Sequence[str]],
    user: HealthUser,
    accessed_at: datetime,
    care_setting: str,
) -> list[tuple[str, dict[str, Any]]]:
    """One ``access`` notification per responsible authority: (authority code, payload).

    The lookup inserts them with its audit row (app/lookup/repository.py).
    """
    access = {
        "accessed_at": accessed_at.isoformat(),
        "user_name": user.name,
        "role_name": user.role_name,
        "org_code": user.org_code,
        "org_name": user.org_name,
        "care_setting": care_setting,
    }
    return [
        (code, {"nhs_number": nhs_number, "plan_types": sorted(set(types)), **access})
        for code, types in sorted(plan_types_by_authority.items())
    ]


async def notify_inactive_nhs_number(
    session: AsyncSession, *, nhs_number: str, superseded_by: str | None
) -> list[str]:
    """One ``inactive-nhs-number`` notification per authority holding any plan row for it.

    Withdrawn and no-longer-visible plans count: the authority may still hold the
    child's case and must correct its records. Returns the authority codes notified.
    """
    holders = await repository.plan_holders(session, nhs_number)
    payloads = [
        (
            row.code,
            {
                "nhs_number": nhs_number,
                "superseded_by": superseded_by,
                "plan_types": sorted(row.plan_types),
            },
        )
        for row in holders
    ]
    if payloads:
        await repository.insert_many(
            session, type_="inactive-nhs-number", nhs_number=nhs_number, payloads=payloads
        )
    return [code for code, _ in payloads]
