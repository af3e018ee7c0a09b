"""One pure-ASGI middleware: request id, security headers, access log, metrics.

Pure ASGI rather than BaseHTTPMiddleware because it sits on the lookup's hot path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS, LOOKUP_ROUTES, count_lookup

log = logging.getLogger("cpis.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_API_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")


def is_safe_request_id(candidate: str) -> bool:
    """Whether a caller-chosen id may be stored and echoed (no control or odd characters)."""
    return _SAFE_REQUEST_ID.match(candidate) is not None


def response_headers(scope: Scope) -> dict[str, str]:
    """What every response carries: the request's id as stored with its audit events
    (a FHIR ``TraceID`` replaces it, app/api/fhir.py), and on the API its security headers.

    The 500 that Starlette renders outside this middleware (app/api/problems.py) adds
    them itself."""
    headers = {"X-Request-ID": scope["state"]["request_id"]}
    if not scope["path"].startswith(_DOCS_PATHS):
        headers.update(_API_HEADERS)
    return headers


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is safe to store and echo, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return str(uuid.uuid4())


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = request_id_from(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                wanted = response_headers(scope)
                headers["X-Request-ID"] = wanted.pop("X-Request-ID")
                for name, value in wanted.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(template, scope["method"], str(status)).inc()
            HTTP_LATENCY.labels(template).observe(elapsed)
            if template in LOOKUP_ROUTES:
                count_lookup(status, state.get("lookup_outcome"))
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": state["request_id"],
                },
            )
