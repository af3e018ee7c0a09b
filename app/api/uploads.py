"""Local-authority uploads (CONTRACT §3.2): send a file, list and fetch acknowledgements."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.api.deps import RequestIdDep, SessionDep, require_scope, settings_of
from app.api.responses import CONFLICT, DENIED, INVALID, NOT_FOUND, TOO_LARGE, UNAVAILABLE
from app.auth.principals import SCOPE_UPLOAD, ServiceClient
from app.clock import today_in_london
from app.config import Settings
from app.db.session import transaction
from app.ingest import service
from app.ingest.rows import FIELDS
from app.ingest.schemas import UploadAcknowledgement, UploadMode, UploadPage
from app.pagination import CursorQuery

router = APIRouter(prefix="/v1", tags=["uploads"])
_DEFAULT_MAX_BYTES = Settings.model_fields["max_upload_bytes"].default
MAX_SEQUENCE = 2**63 - 1


async def current_uploader(
    request: Request,
    client: Annotated[ServiceClient, Depends(require_scope(SCOPE_UPLOAD))],
) -> service.Uploader:
    # A short transaction of its own: the upload's session must not hold a connection
    # while a slow sender streams the body.
    async with transaction(request.app.state.sessionmaker) as session:
        return await service.uploader_for(session, client)


UploaderDep = Annotated[service.Uploader, Depends(current_uploader)]

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {
                    "type": "string",
                    # In characters; the byte limit (CPIS_MAX_UPLOAD_BYTES) is enforced too.
                    "maxLength": _DEFAULT_MAX_BYTES,
                    "description": "UTF-8 CSV: the header line, then one record per line.",
                },
                "example": f"{','.join(FIELDS)}\n9434765919,CPP,2026-03-01,,,CASE-1\n",
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["records"],
                    "additionalProperties": False,
                    "properties": {
                        "records": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {f: {"type": ["string", "null"]} for f in FIELDS},
                            },
                        }
                    },
                }
            },
        },
    }
}


@router.post(
    "/uploads",
    response_model=UploadAcknowledgement,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": UploadAcknowledgement, "description": "Same sequence, same bytes: replay"},
        **DENIED,
        **CONFLICT,
        **TOO_LARGE,
        **INVALID,
        **UNAVAILABLE,
    },
    openapi_extra=_BODY,
)
async def create_upload(
    request: Request,
    response: Response,
    uploader: UploaderDep,
    session: SessionDep,
    request_id: RequestIdDep,
    sequence: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)],
    mode: UploadMode = UploadMode.DELTA,
    allow_mass_withdrawal: bool = False,
) -> UploadAcknowledgement:
    """Send the authority's plans as CSV or JSON; bad records are rejected one by one."""
    outcome = await service.receive_upload(
        session,
        uploader,
        service.UploadOptions(sequence, mode, allow_mass_withdrawal),
        service.UploadBody(
            request.stream(),
            request.headers.get("content-type"),
            request.headers.get("content-length"),
        ),
        max_bytes=settings_of(request).max_upload_bytes,
        request_id=request_id,
        today=today_in_london(),
    )
    if outcome.replayed:
        response.status_code = status.HTTP_200_OK
    return outcome.acknowledgement


@router.get(
    "/uploads",
    response_model=UploadPage,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **INVALID, **UNAVAILABLE},
)
async def list_uploads(
    uploader: UploaderDep,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UploadPage:
    """The authority's own uploads, newest first (without their rejections)."""
    return await service.list_uploads(session, uploader, cursor=cursor, limit=limit)


@router.get(
    "/uploads/{upload_id}",
    response_model=UploadAcknowledgement,
    status_code=status.HTTP_200_OK,
    responses={**DENIED, **NOT_FOUND, **INVALID, **UNAVAILABLE},
)
async def get_upload(
    upload_id: uuid.UUID, uploader: UploaderDep, session: SessionDep
) -> UploadAcknowledgement:
    """One of the authority's uploads: the full acknowledgement, rejections included."""
    return await service.get_upload(session, uploader, upload_id)
