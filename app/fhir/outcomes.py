"""OperationOutcome errors with NHS England's Spine error codes.

CP-IS's FHIR API names three codes (INVALID_SEARCH_DATA, PRECONDITION_FAILED,
ACCESS_DENIED); the others come from the same Spine code system, chosen for the
errors CP-IS leaves unspecified (unknown endpoint, outage, internal error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from app.errors import DomainError

SPINE_ERROR_SYSTEM: Final = "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode"
OPERATION_OUTCOME_PROFILE: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome"
)

INVALID_SEARCH_DATA: Final = "INVALID_SEARCH_DATA"
PRECONDITION_FAILED: Final = "PRECONDITION_FAILED"
ACCESS_DENIED: Final = "ACCESS_DENIED"
RESOURCE_NOT_FOUND: Final = "RESOURCE_NOT_FOUND"
UNSUPPORTED_SERVICE: Final = "UNSUPPORTED_SERVICE"
BAD_REQUEST: Final = "BAD_REQUEST"
UNABLE_TO_CALL_SERVICE: Final = "UNABLE_TO_CALL_SERVICE"
FAILURE_TO_PROCESS_MESSAGE: Final = "FAILURE_TO_PROCESS_MESSAGE"

DISPLAY: Final = {
    INVALID_SEARCH_DATA: "Invalid search data",
    PRECONDITION_FAILED: "Precondition failed",
    ACCESS_DENIED: "Access has been denied to process this request",
    RESOURCE_NOT_FOUND: "Resource not found",
    UNSUPPORTED_SERVICE: "Unsupported service",
    BAD_REQUEST: "Bad request",
    UNABLE_TO_CALL_SERVICE: "Unable to call service",
    FAILURE_TO_PROCESS_MESSAGE: "Failure to process message",
}


class InvalidSearchData(DomainError):
    """A bad, missing or unsupported search parameter (400 INVALID_SEARCH_DATA)."""

    status = 400
    code = "invalid-search-data"
    title = "Invalid search data"

    def __init__(self, detail: str, *, issue_type: str = "invalid") -> None:
        super().__init__(detail)
        self.issue_type = issue_type


class PreconditionFailed(DomainError):
    """A missing or invalid request header (400 PRECONDITION_FAILED)."""

    status = 400
    code = "precondition-failed"
    title = "Missing or invalid header"


class UnsupportedService(DomainError):
    """No such FHIR endpoint (404 UNSUPPORTED_SERVICE)."""

    status = 404
    code = "unsupported-service"
    title = "Unsupported service"


class MethodNotAllowed(UnsupportedService):
    """An endpoint that exists, asked with a method it does not answer (405)."""

    status = 405
    code = "method-not-allowed"
    title = "Method not allowed"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _classify(error: DomainError) -> tuple[int, str, str]:
    """(HTTP status, Spine code, FHIR issue type) for any domain error."""
    if isinstance(error, InvalidSearchData):
        return 400, INVALID_SEARCH_DATA, error.issue_type
    if isinstance(error, PreconditionFailed):
        return 400, PRECONDITION_FAILED, "invalid"
    if isinstance(error, MethodNotAllowed):
        return 405, UNSUPPORTED_SERVICE, "not-supported"
    if isinstance(error, UnsupportedService):
        return 404, UNSUPPORTED_SERVICE, "not-found"
    by_status = {
        401: (ACCESS_DENIED, "login"),
        403: (ACCESS_DENIED, "forbidden"),
        404: (RESOURCE_NOT_FOUND, "not-found"),
        # Request schema errors (422 on /v1) are bad search data in FHIR terms.
        422: (INVALID_SEARCH_DATA, "invalid"),
        429: (BAD_REQUEST, "throttled"),
        503: (UNABLE_TO_CALL_SERVICE, "transient"),
    }
    if error.status in by_status:
        spine, issue = by_status[error.status]
        return (400 if error.status == 422 else error.status), spine, issue
    if error.status >= 500:
        return error.status, FAILURE_TO_PROCESS_MESSAGE, "exception"
    return error.status, BAD_REQUEST, "invalid"


def operation_outcome(spine_code: str, issue_type: str, diagnostics: str) -> dict[str, Any]:
    """A one-issue OperationOutcome carrying ``spine_code``."""
    return {
        "resourceType": "OperationOutcome",
        "meta": {"profile": [OPERATION_OUTCOME_PROFILE]},
        "issue": [
            {
                "severity": "error",
                "code": issue_type,
                "details": {
                    "coding": [
                        {
                            "system": SPINE_ERROR_SYSTEM,
                            "code": spine_code,
                            "display": DISPLAY[spine_code],
                        }
                    ]
                },
                "diagnostics": diagnostics,
            }
        ],
    }


def outcome_for(error: DomainError) -> Outcome:
    """How a domain error raised under /fhir is answered; never echoes request values."""
    status, spine_code, issue_type = _classify(error)
    return Outcome(status, operation_outcome(spine_code, issue_type, error.detail), error.headers)


def internal_error() -> dict[str, Any]:
    return operation_outcome(
        FAILURE_TO_PROCESS_MESSAGE,
        "exception",
        "an unexpected error occurred; quote the X-Request-ID when reporting it",
    )
