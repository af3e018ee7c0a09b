"""The error responses routes declare, so the OpenAPI document lists them."""

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """RFC 9457 problem details with the service's stable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


DENIED: dict[int | str, dict[str, Any]] = {
    401: _problem("No valid bearer token"),
    403: _problem("The caller may not do this (audited)"),
}
INVALID: dict[int | str, dict[str, Any]] = {422: _problem("The request is not valid")}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _problem("No such object for this caller")}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _problem("Conflicts with the current state")}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: _problem("The request body is too large")}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: _problem("The database is unreachable; nothing was shown or changed")
}
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: _problem("Too many different NHS numbers looked up recently (audited); see Retry-After")
}
