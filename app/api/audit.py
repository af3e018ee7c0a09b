"""GET /v1/audit/events and /v1/audit/verify: the trail opened to auditors (CONTRACT §3.4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import RequestIdDep, SessionDep, require_scope
from app.api.responses import DENIED, INVALID, UNAVAILABLE
from app.audit import trail
from app.audit.schemas import AuditKind
from app.audit.views import AuditEventPage, VerifyReport
from app.auth.principals import SCOPE_AUDIT, ServiceClient

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AuditorDep = Annotated[ServiceClient, Depends(require_scope(SCOPE_AUDIT))]
MAX_SEQ = 2**63 - 1


async def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


@router.get(
    "/events",
    response_model=AuditEventPage,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **INVALID, **UNAVAILABLE},
)
async def list_audit_events(
    auditor: AuditorDep,
    session: SessionDep,
    request_id: RequestIdDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Events with seq above this.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[AuditKind | None, Query(description="Only events of this kind.")] = None,
) -> AuditEventPage:
    """The audit trail in seq order (a late commit may surface a lower seq briefly; see docs)."""
    return await trail.list_events(
        session, auditor, after=after, limit=limit, kind=kind, request_id=request_id
    )


@router.get(
    "/verify",
    response_model=VerifyReport,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **UNAVAILABLE},
)
async def verify_audit_trail(
    auditor: AuditorDep,
    session: SessionDep,
    request_id: RequestIdDep,
    maker: Annotated[async_sessionmaker[AsyncSession], Depends(_sessionmaker)],
) -> VerifyReport:
    """Recompute every hash chain and name the first bad event, if any."""
    return await trail.verify_trail(maker, session, auditor, request_id=request_id)
