"""The two CP-IS FHIR searches, each one call into the domain that owns the behaviour."""

from __future__ import annotations

from datetime import date

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principals import HealthUser
from app.fhir.auditevent import audit_event_bundle
from app.fhir.bundle import Resource
from app.fhir.careteam import care_team_bundle
from app.fhir.search import AuditEventSearch, CareTeamSearch
from app.lookup import history
from app.lookup import service as lookup
from app.lookup.schemas import LookupRequest


async def search_care_teams(
    conn: asyncpg.Connection,
    user: HealthUser,
    search: CareTeamSearch,
    *,
    request_id: str,
    today: date,
    base_url: str,
    policy: lookup.LookupPolicy,
) -> Resource:
    """A CareTeam search is a lookup: the very same call POST /v1/lookups makes.

    So it is audited, notified and role-checked exactly like one (CONTRACT §3.1); only
    the shape of the answer differs. It has committed what it recorded when it returns.
    """
    request = LookupRequest(
        nhs_number=search.nhs_number,
        care_setting=search.care_setting,
        unscheduled=search.unscheduled,
    )
    result = await lookup.look_up(
        conn, user, request, request_id=request_id, today=today, policy=policy
    )
    return care_team_bundle(result, base_url)


async def search_audit_events(
    session: AsyncSession,
    user: HealthUser,
    search: AuditEventSearch,
    *,
    request_id: str,
    today: date,
    base_url: str,
) -> Resource:
    """The access history as AuditEvents; recorded as a history read, never as an access."""
    accesses = await history.recent_accesses(
        session, user, search.nhs_number, request_id=request_id, today=today, interface="fhir"
    )
    return audit_event_bundle(
        accesses, search.nhs_number, base_url, include_agents=search.include_agents
    )
