"""One error hierarchy for the whole service.

Domain code raises these; the HTTP layer renders them as RFC 9457 problem+json
on ``/v1`` and as a FHIR OperationOutcome on ``/fhir``. Services never raise
``HTTPException``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """An error with a stable machine-readable ``code`` and an HTTP status."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class InvalidRequest(DomainError):
    status = 422
    code = "invalid-request"
    title = "The request is not valid"


class InvalidNHSNumber(DomainError):
    status = 422
    code = "invalid-nhs-number"
    title = "The NHS number is not valid"


class Unauthorized(DomainError):
    """No usable credentials. Never audited: there is no trustworthy actor."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str = "a valid bearer token is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="cpis"'})


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload-too-large"
    title = "The request body is too large"


class TooManyRequests(DomainError):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"


class ServiceUnavailable(DomainError):
    """Fail closed: the service cannot answer safely (for example, cannot audit)."""

    status = 503
    code = "service-unavailable"
    title = "Service unavailable"
