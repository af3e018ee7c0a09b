"""POST /v1/lookups: the registration-desk lookup (CONTRACT §3.1)."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.api.deps import HealthUserDep, RequestIdDep, SessionDep, settings_of
from app.api.responses import DENIED, INVALID, UNAVAILABLE
from app.clock import today_in_london
from app.config import Settings
from app.lookup import service
from app.lookup.schemas import LookupRequest, LookupResponse
from app.patterns.rules import rules_from_settings

router = APIRouter(prefix="/v1", tags=["lookups"])


@router.post(
    "/lookups",
    response_model=LookupResponse,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **INVALID, **UNAVAILABLE},
)
async def create_lookup(
    body: LookupRequest,
    user: HealthUserDep,
    session: SessionDep,
    request_id: RequestIdDep,
    settings: Annotated[Settings, Depends(settings_of)],
) -> LookupResponse:
    """Look a child up by NHS number: visible plans, contacts and recent unscheduled accesses."""
    return await service.look_up(
        session,
        user,
        body,
        request_id=request_id,
        today=today_in_london(),
        attendance_rules=rules_from_settings(settings),
    )
