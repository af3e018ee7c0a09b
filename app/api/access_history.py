"""POST /v1/access-history/search: who looked at a child (CONTRACT §3.4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import Response

from app.api.deps import RequestIdDep, SessionDep, require_scope
from app.api.problems import render
from app.api.responses import DENIED, INVALID, NOT_FOUND, UNAVAILABLE
from app.auth.principals import SCOPE_AUDIT, SCOPE_HISTORY, ServiceClient
from app.errors import NotFound
from app.history import service
from app.history.schemas import HistoryPage, HistorySearch

router = APIRouter(prefix="/v1/access-history", tags=["access history"])
ReaderDep = Annotated[ServiceClient, Depends(require_scope(SCOPE_HISTORY, SCOPE_AUDIT))]
NOT_HELD = "no access history for this NHS number"


@router.post(
    "/search",
    response_model=HistoryPage,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **NOT_FOUND, **INVALID, **UNAVAILABLE},
)
async def search_access_history(
    body: HistorySearch,
    reader: ReaderDep,
    session: SessionDep,
    request_id: RequestIdDep,
    request: Request,
) -> Response:
    """Every lookup of a child, newest first: an authority's own children, or any for auditors."""
    page = await service.search(session, reader, body, request_id=request_id)
    if page is None:
        # Returned, not raised: the refused search's audit row must commit with the request.
        return render(request, NotFound(NOT_HELD))
    # Serialised once, by pydantic, as POST /v1/lookups does (app/api/lookups.py): up to
    # 1,000 entries would otherwise be dumped, validated again and re-encoded by FastAPI.
    return Response(page.model_dump_json(), media_type="application/json")
