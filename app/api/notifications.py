"""GET /v1/notifications: the local authority's notification feed (CONTRACT §3.3)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.api.deps import SessionDep, require_scope
from app.api.responses import DENIED, INVALID, UNAVAILABLE
from app.auth.principals import SCOPE_NOTIFICATIONS, ServiceClient
from app.notify import feed
from app.notify.schemas import NotificationItem
from app.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorQuery, Page

router = APIRouter(prefix="/v1", tags=["notifications"])
NotifiedDep = Annotated[ServiceClient, Depends(require_scope(SCOPE_NOTIFICATIONS))]


@router.get(
    "/notifications",
    response_model=Page[NotificationItem],
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **INVALID, **UNAVAILABLE},
)
async def list_notifications(
    client: NotifiedDep,
    session: SessionDep,
    after: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[NotificationItem]:
    """Your authority's notifications after `after`, oldest first; keep polling with the last item's `cursor`."""  # noqa: E501
    assert client.org_code is not None  # the token check demands it for this scope
    return await feed.read_feed(session, client.org_code, after=after, limit=limit)
