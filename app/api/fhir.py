"""The FHIR R4 facade (CONTRACT §4): NHS England's CP-IS calls, answered by cpis."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from app import __version__
from app.api.deps import (
    HealthUserDep,
    RequestIdDep,
    SessionDep,
    lookup_connection,
    lookup_policy_of,
    request_id_of,
)
from app.clock import today_in_london
from app.fhir import search, service
from app.fhir.capability import FHIR_JSON, capability_statement
from app.fhir.schemas import Bundle, CapabilityStatement, OperationOutcome
from app.lookup.schemas import CareSetting
from app.observability.middleware import is_safe_request_id

BASE_PATH = "/fhir/R4"


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON


def _outcome(description: str) -> dict[str, Any]:
    return {
        "model": OperationOutcome,
        "description": description,
        "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _outcome("INVALID_SEARCH_DATA (search parameter) or PRECONDITION_FAILED (header)"),
    401: _outcome("ACCESS_DENIED: no valid bearer token"),
    403: _outcome("ACCESS_DENIED: the role may not do this (audited)"),
    405: _outcome("UNSUPPORTED_SERVICE: only GET is answered"),
    503: _outcome("UNABLE_TO_CALL_SERVICE: the database is unreachable; nothing was shown"),
}
LOOKUP_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    429: _outcome("Too many different NHS numbers looked up recently (audited); see Retry-After"),
}

# The handlers read the raw query and headers (repeats and unknown names are refused, as
# NHS England's API does), so FastAPI cannot see them: they are declared here instead.
_IDENTIFIER = {
    "name": search.PATIENT_IDENTIFIER,
    "in": "query",
    "required": True,
    "description": f"`{search.NHS_NUMBER_SYSTEM}|` and a valid NHS number (Modulus 11).",
    "schema": {
        "type": "string",
        "format": "fhir-nhs-number-identifier",
        "maxLength": 64,
        "pattern": "^" + re.escape(search.NHS_NUMBER_SYSTEM + "|") + "(?: *[0-9]){10} *$",
    },
}
_UNSCHEDULED = {
    "name": "IsUnscheduledAccessEvent",
    "in": "header",
    "required": False,
    "description": "`false` for a scheduled (silent) read; absent: the role's default.",
    "schema": {"type": "string", "enum": ["true", "false"]},
}
_CARE_SETTING = {
    "name": "X-Care-Setting",
    "in": "header",
    "required": False,
    "description": "Where the child is being seen; `other` when absent.",
    "schema": {"type": "string", "enum": [c.value for c in CareSetting]},
}
_INCLUDE = {
    "name": search.INCLUDE,
    "in": "query",
    "required": False,
    "description": "Include each agent's PractitionerRole in the Bundle.",
    "schema": {
        "type": "string",
        "enum": [search.INCLUDE_AGENT, search.INCLUDE_AGENT_NHS_ALIAS],
    },
}
CARE_TEAM_PARAMETERS = {"parameters": [_IDENTIFIER, _UNSCHEDULED, _CARE_SETTING]}
AUDIT_EVENT_PARAMETERS = {"parameters": [_IDENTIFIER, _INCLUDE, _UNSCHEDULED, _CARE_SETTING]}


async def use_trace_id(request: Request) -> None:
    """A valid ``TraceID`` header becomes the request id stored with audit events."""
    trace_ids = request.headers.getlist(search.TRACE_ID_HEADER)
    if len(trace_ids) == 1 and is_safe_request_id(trace_ids[0]):
        request.state.request_id = trace_ids[0]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + BASE_PATH


# The trace id dependency runs before authentication, so a 403 is audited under it too.
router = APIRouter(prefix=BASE_PATH, tags=["fhir"], dependencies=[Depends(use_trace_id)])


@router.get(
    "/metadata",
    response_model=CapabilityStatement,
    response_class=FHIRResponse,
    status_code=status.HTTP_200_OK,
)
async def metadata() -> FHIRResponse:
    """The CapabilityStatement: what this FHIR endpoint implements (no token needed)."""
    return FHIRResponse(capability_statement(__version__))


@router.get(
    "/CareTeam",
    response_model=Bundle,
    response_class=FHIRResponse,
    status_code=status.HTTP_200_OK,
    responses=LOOKUP_ERRORS,
    openapi_extra=CARE_TEAM_PARAMETERS,
)
async def search_care_team(request: Request, user: HealthUserDep) -> FHIRResponse:
    """CP-IS lookup by patient:identifier: one CareTeam per visible plan (audited, notified)."""
    parsed = search.care_team_search(request.query_params.multi_items(), request.headers.items())
    async with lookup_connection(request) as conn:
        bundle = await service.search_care_teams(
            conn,
            user,
            parsed,
            request_id=request_id_of(request),
            today=today_in_london(),
            base_url=_base_url(request),
            policy=lookup_policy_of(request),
        )
    request.state.lookup_outcome = "flagged" if bundle["total"] else "not-flagged"
    return FHIRResponse(bundle)


@router.get(
    "/AuditEvent",
    response_model=Bundle,
    response_class=FHIRResponse,
    status_code=status.HTTP_200_OK,
    responses=ERRORS,
    openapi_extra=AUDIT_EVENT_PARAMETERS,
)
async def search_audit_event(
    request: Request, user: HealthUserDep, session: SessionDep, request_id: RequestIdDep
) -> FHIRResponse:
    """CP-IS access history by patient:identifier: recent unscheduled accesses (audited)."""
    parsed = search.audit_event_search(request.query_params.multi_items(), request.headers.items())
    bundle = await service.search_audit_events(
        session,
        user,
        parsed,
        request_id=request_id,
        today=today_in_london(),
        base_url=_base_url(request),
    )
    return FHIRResponse(bundle)
