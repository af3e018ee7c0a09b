"""POST /v1/nhs-numbers/supersede: mark an NHS number superseded or inactive (CONTRACT §3.5)."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.api.deps import RequestIdDep, SessionDep, require_scope
from app.api.responses import DENIED, INVALID, UNAVAILABLE
from app.auth.principals import SCOPE_ADMIN, ServiceClient
from app.directory import service
from app.directory.schemas import SupersedeRequest, SupersedeResult

router = APIRouter(prefix="/v1/nhs-numbers", tags=["directory"])
AdminDep = Annotated[ServiceClient, Depends(require_scope(SCOPE_ADMIN))]


@router.post(
    "/supersede",
    response_model=SupersedeResult,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **INVALID, **UNAVAILABLE},
)
async def supersede_nhs_number(
    body: SupersedeRequest, admin: AdminDep, session: SessionDep, request_id: RequestIdDep
) -> SupersedeResult:
    """Mark an NHS number superseded (or inactive); authorities holding a plan for it are notified."""  # noqa: E501
    return await service.supersede_nhs_number(session, admin, body, request_id=request_id)
