"""Render errors: RFC 9457 problem+json on the native API, OperationOutcome under /fhir/.

Every 403 for an authenticated caller is written to the audit trail here, in a
transaction of its own (the request's own transaction has been rolled back).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.abuse import service as abuse
from app.abuse.schemas import HarvestingSuspected
from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.db.session import transaction
from app.errors import DomainError, Forbidden, InvalidNHSNumber, InvalidRequest, ServiceUnavailable
from app.fhir import outcomes
from app.fhir.capability import FHIR_JSON
from app.nhs_number import PYDANTIC_ERROR_TYPE
from app.observability.metrics import AUTH_FAILURES
from app.observability.middleware import response_headers

log = logging.getLogger("cpis.errors")
PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


class OperationOutcomeResponse(JSONResponse):
    media_type = FHIR_JSON


def is_fhir(request: Request) -> bool:
    """FHIR clients expect OperationOutcome errors, whatever went wrong."""
    path: str = request.scope["path"]
    return path.startswith("/fhir/")


def problem_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:cpis:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        **error.extra,
    }
    if error.errors:
        body["errors"] = error.errors
    return body


def render(request: Request, error: DomainError) -> Response:
    if error.status == 401:
        AUTH_FAILURES.inc()
    if is_fhir(request):
        outcome = outcomes.outcome_for(error)
        return OperationOutcomeResponse(
            outcome.body, status_code=outcome.status, headers=outcome.headers
        )
    return ProblemResponse(problem_body(error), status_code=error.status, headers=error.headers)


async def _record_denial(request: Request, error: Forbidden) -> None:
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return  # no verified identity: nothing trustworthy to record
    route = request.scope.get("route")
    async with transaction(request.app.state.sessionmaker) as session:
        await audit.record(
            session,
            NewAuditEvent(
                kind=AuditKind.ACCESS_DENIED,
                actor=actor,
                request_id=request.state.request_id,
                detail={
                    "method": request.method,
                    "route": getattr(route, "path", "unmatched"),
                    "reason": error.detail,
                },
            ),
        )


async def _record_harvest_alert(request: Request, error: HarvestingSuspected) -> None:
    # The request's transaction has been rolled back; the alert must outlive it.
    actor = getattr(request.state, "actor", None) or {"type": "unresolved"}
    async with transaction(request.app.state.sessionmaker) as session:
        await audit.record(session, abuse.alert_event(error, actor, request.state.request_id))


async def on_domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    try:
        if isinstance(error, Forbidden):
            await _record_denial(request, error)
        elif isinstance(error, HarvestingSuspected):
            await _record_harvest_alert(request, error)
    except Exception as exc:  # fail closed: a refusal we cannot record is an outage
        return await on_database_unavailable(request, exc)
    return render(request, error)


async def on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    # Never echo the submitted values back: they may be NHS numbers.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    # A bad NHS number is named as such (CONTRACT §3.1) even beside other faults, which
    # ``errors`` lists too: a caller checking the number need not get the rest right first.
    bad_numbers = [e for e in errors if e["type"] == PYDANTIC_ERROR_TYPE]
    if bad_numbers:
        return render(request, InvalidNHSNumber(bad_numbers[0]["msg"], errors=errors))
    return render(request, InvalidRequest("the request does not match the schema", errors=errors))


async def on_database_unavailable(request: Request, error: Exception) -> Response:
    log.error(
        "database unavailable",
        extra={"error": type(error).__name__, "request_id": request.state.request_id},
    )
    return render(request, ServiceUnavailable("the service cannot reach its database; retry"))


async def on_unexpected(request: Request, error: Exception) -> Response:
    # Frames only: exception messages can carry values (an NHS number in a SQL error).
    log.error(
        "unhandled error",
        extra={
            "error": type(error).__name__,
            "frames": traceback.format_tb(error.__traceback__)[-5:],
            "request_id": request.state.request_id,
        },
    )
    # Starlette sends this response from outside RequestContextMiddleware, so it carries
    # the request id (quoted below) and the security headers itself.
    headers = response_headers(request.scope)
    if is_fhir(request):
        return OperationOutcomeResponse(outcomes.internal_error(), status_code=500, headers=headers)
    body = {
        "type": "urn:cpis:problem:internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "an unexpected error occurred; quote the X-Request-ID when reporting it",
        "code": "internal-error",
    }
    return ProblemResponse(body, status_code=500, headers=headers)


# Framework-raised errors (unknown path, wrong method, unparseable body) as problem+json too.
_HTTP_CODES = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}


async def on_http_error(request: Request, error: Exception) -> Response:
    """Framework errors: OperationOutcome under /fhir/ (404, 405), else problem+json."""
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    if is_fhir(request) and status in (404, 405):
        fhir_error: DomainError = (
            outcomes.MethodNotAllowed(
                "this FHIR endpoint answers GET only", headers=dict(error.headers or {})
            )
            if status == 405
            else outcomes.UnsupportedService("this FHIR endpoint does not exist")
        )
        return render(request, fhir_error)
    body = {
        "type": f"urn:cpis:problem:{_HTTP_CODES.get(status, 'http-error')}",
        "title": "Request refused",
        "status": status,
        "detail": str(error.detail),
        "code": _HTTP_CODES.get(status, "http-error"),
    }
    return ProblemResponse(body, status_code=status, headers=error.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    # Any database failure fails closed with 503: no answer without its audit row.
    # asyncpg's own errors reach here from the hot paths that use it directly (app/db/raw.py).
    for unavailable in (
        DBAPIError,
        PoolTimeout,
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    ):
        app.add_exception_handler(unavailable, on_database_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
