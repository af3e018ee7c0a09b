"""Input guards in front of every route: body size, JSON shape and hostile text; CORS.

One pure-ASGI middleware sees every request before FastAPI parses it, so a new route is
covered without doing anything. JSON bodies are small (``CPIS_MAX_JSON_BODY_BYTES``), so
they are read whole, checked, and replayed to the app; streamed routes (uploads) keep
their own, larger limit and are counted as they stream.

Why check text here rather than in each schema: PostgreSQL refuses NUL in ``text`` and
``jsonb``, and control characters, unpaired surrogates and bidirectional overrides in a
name or code are at best garbage and at worst spoofing (a reversed org name in an audit
row). Refusing them at the edge, with a 422 naming the field, keeps every route and every
table safe, including routes written later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import render
from app.config import Settings
from app.errors import DomainError, InvalidRequest, PayloadTooLarge

# Streamed bodies with their own limit; everything else is a JSON-sized body.
STREAMED_PREFIXES = ("/v1/uploads",)
# C0/C1 controls (tab, LF, CR allowed), DEL, bidi marks/overrides/isolates, BOM, surrogates.
FORBIDDEN_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ufeff\ud800-\udfff]"
)
_FORBIDDEN_MESSAGE = (
    "text may not contain control characters, unpaired surrogates or bidirectional-text marks"
)
CORS_METHODS = ("GET", "POST", "PUT")
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "IsUnscheduledAccessEvent",
    "X-Care-Setting",
    "TraceID",
)
CORS_EXPOSED = ("X-Request-ID", "Retry-After", "WWW-Authenticate")


def _walk(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every string (keys included) of a parsed JSON value with its location, iteratively."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(loc, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                yield (*where, key), key
                stack.append(((*where, key), child))
        elif isinstance(item, list):
            stack.extend(((*where, i), child) for i, child in enumerate(item))
        elif isinstance(item, str):
            yield where, item


def _depth(raw: str) -> int:
    """Deepest bracket nesting outside strings (bounded work: one pass over the body)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json_problem(body: bytes, max_depth: int) -> DomainError | None:
    """Why a JSON body is refused before parsing, or None to let the route parse it."""
    try:
        text = body.decode("utf-8")  # strict: overlong forms and encoded surrogates fail
    except UnicodeDecodeError:
        return InvalidRequest("the request body is not valid UTF-8")
    if text.count("[") + text.count("{") > max_depth and _depth(text) > max_depth:
        return InvalidRequest(f"the JSON body is nested more than {max_depth} levels deep")
    try:
        parsed = json.loads(text)
    except ValueError:
        return None  # the route answers malformed JSON with its usual 422
    bad = [list(loc) for loc, s in _walk(parsed, ("body",)) if FORBIDDEN_TEXT.search(s)]
    if bad:
        errors = [{"loc": loc, "msg": _FORBIDDEN_MESSAGE, "type": "forbidden_text"} for loc in bad]
        return InvalidRequest(f"{_FORBIDDEN_MESSAGE} ({len(bad)} field(s))", errors=errors[:20])
    return None


def url_problem(scope: Scope) -> DomainError | None:
    """Hostile text in the path or query string (percent-encoded or not)."""
    try:
        pairs = parse_qsl(
            scope.get("query_string", b"").decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        return InvalidRequest("the query string is not valid UTF-8")
    for name, value in pairs:
        if FORBIDDEN_TEXT.search(name) or FORBIDDEN_TEXT.search(value):
            errors = [
                {"loc": ["query", name[:50]], "msg": _FORBIDDEN_MESSAGE, "type": "forbidden_text"}
            ]
            return InvalidRequest(_FORBIDDEN_MESSAGE, errors=errors)
    if FORBIDDEN_TEXT.search(scope.get("path", "")):
        return InvalidRequest(_FORBIDDEN_MESSAGE)
    return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _is_json(scope: Scope) -> bool:
    # FastAPI parses a body with no Content-Type as JSON, so it is checked as JSON too.
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


class BodyGuardMiddleware:
    """Refuse oversized bodies (413), deep or hostile JSON and hostile URLs (422)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json_bytes: int,
        max_json_depth: int,
        streamed_limits: Mapping[str, int],
    ) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_json_depth = max_json_depth
        self.streamed_limits = dict(streamed_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (problem := url_problem(scope)) is not None:
            await _refuse(problem, scope, receive, send)
            return
        path: str = scope["path"]
        for prefix, limit in self.streamed_limits.items():
            if path == prefix or path.startswith(prefix + "/"):
                await self._streamed(limit, scope, receive, send)
                return
        await self._buffered(scope, receive, send)

    async def _streamed(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(_too_large(limit), scope, receive, send)
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # Content-Length absent or wrong: stop reading, the route renders
                raise _too_large(limit)
            return message

        await self.app(scope, counting, send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_json_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(_too_large(limit), scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client has gone: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(_too_large(limit), scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope):
            problem = json_problem(body, self.max_json_depth)
            if problem is not None:
                await _refuse(problem, scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as usual

    return replayed


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes")


async def _refuse(error: DomainError, scope: Scope, receive: Receive, send: Send) -> None:
    # The same renderer as the routes: FHIR clients get an OperationOutcome (a 422 is
    # INVALID_SEARCH_DATA, 400 there), everyone else problem+json.
    response = render(Request(scope), error)
    await response(scope, receive, send)


def _document_limits(app: FastAPI) -> None:
    """List the guard's 413 and 422 on every operation with a body, routes added later too."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        problem = {"$ref": "#/components/schemas/Problem"}
        if "Problem" not in schema.get("components", {}).get("schemas", {}):
            problem = {"type": "object"}
        content = {"application/problem+json": {"schema": problem}}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    responses = operation.setdefault("responses", {})
                    responses.setdefault(
                        "413", {"description": "The request body is too large", "content": content}
                    )
                    responses.setdefault(
                        "422", {"description": "The request is not valid", "content": content}
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, settings: Settings) -> None:
    """Add the guards (and CORS, only when origins are configured) inside the request context."""
    app.add_middleware(
        BodyGuardMiddleware,
        max_json_bytes=settings.max_json_body_bytes,
        max_json_depth=settings.max_json_depth,
        streamed_limits={prefix: settings.max_upload_bytes for prefix in STREAMED_PREFIXES},
    )
    if settings.cors_origins:
        # Bearer tokens, never cookies: credentials stay off, so no origin can ride a session.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            allow_credentials=False,
            max_age=600,
        )
    _document_limits(app)
