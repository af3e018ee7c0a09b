"""The local-authority directory and webhook delivery state (CONTRACT §3.5)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from app.api.deps import RequestIdDep, SessionDep, SettingsDep, require_scope
from app.api.responses import DENIED, INVALID, NOT_FOUND, UNAVAILABLE
from app.auth.principals import SCOPE_ADMIN, ServiceClient
from app.directory import service
from app.directory.schemas import LocalAuthorityUpdate, LocalAuthorityView
from app.notify.schemas import DeliveryState, DeliveryView
from app.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorQuery, Page

router = APIRouter(prefix="/v1/local-authorities", tags=["directory"])
AdminDep = Annotated[ServiceClient, Depends(require_scope(SCOPE_ADMIN))]
Code = Annotated[str, Path(pattern=r"^E[0-9]{8}$", description="GSS code, e.g. E09000007")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get(
    "",
    response_model=Page[LocalAuthorityView],
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **INVALID, **UNAVAILABLE},
)
async def list_local_authorities(
    _: AdminDep, session: SessionDep, cursor: CursorQuery = None, limit: Limit = DEFAULT_LIMIT
) -> Page[LocalAuthorityView]:
    """The directory of local authorities in code order (webhook secrets are never shown)."""
    return await service.list_local_authorities(session, cursor=cursor, limit=limit)


@router.put(
    "/{code}",
    response_model=LocalAuthorityView,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **NOT_FOUND, **INVALID, **UNAVAILABLE},
)
async def update_local_authority(
    code: Code,
    body: LocalAuthorityUpdate,
    admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> LocalAuthorityView:
    """Replace an authority's contacts and webhook; omit `webhook_secret` to keep the stored one."""
    return await service.update_local_authority(
        session, admin, code, body, settings=settings, request_id=request_id
    )


@router.get(
    "/{code}/deliveries",
    response_model=Page[DeliveryView],
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **NOT_FOUND, **INVALID, **UNAVAILABLE},
)
async def list_deliveries(
    code: Code,
    _: AdminDep,
    session: SessionDep,
    state: DeliveryState | None = None,
    cursor: CursorQuery = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DeliveryView]:
    """Webhook delivery state of the authority's notifications, newest first."""
    return await service.list_deliveries(session, code, state=state, cursor=cursor, limit=limit)
