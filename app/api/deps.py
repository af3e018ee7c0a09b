"""Dependencies shared by every router: the transaction, the caller, their rights."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principals import (
    HealthUser,
    Principal,
    ServiceClient,
    actor_of,
    principal_from_claims,
)
from app.config import Settings
from app.db import pool
from app.db.session import transaction
from app.errors import Forbidden, Unauthorized
from app.lookup.service import LookupPolicy

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from the configured identity provider (`cpis token` in development).",
)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(request.app.state.sessionmaker) as session:
        yield session


# scope="function": commit before the response is sent, never after (see db/session.py).
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


def lookup_connection(request: Request) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """The lookup's own connection, outside any transaction (app/db/pool.py); the lookup
    commits its writes itself before it returns its answer.

    Taken inside the route rather than as a dependency: a generator dependency costs
    FastAPI an exit stack and a shielded cancel scope per request, about 8 % of a lookup's
    CPU (make bench, L1 and L2), and a request refused for its body never takes one.
    """
    return pool.connection(request.app.state.lookup_pool)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _settings(request: Request) -> Settings:
    # async: FastAPI runs a plain-def dependency in a worker thread on every request.
    return settings_of(request)


SettingsDep = Annotated[Settings, Depends(_settings)]


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized()
    settings = settings_of(request)
    # Verified once per token and then remembered until it expires (app/auth/token_cache.py).
    claims = await request.app.state.verified_tokens.verify(
        credentials.credentials,
        request.app.state.jwks,
        issuer=settings.issuer,
        audience=settings.audience,
    )
    # A verified subject: from here on a refusal (403) is audited against it.
    request.state.actor = {"type": "unresolved", "sub": str(claims.get("sub"))}
    principal = principal_from_claims(claims)
    request.state.actor = actor_of(principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_health_user(principal: PrincipalDep) -> HealthUser:
    if not isinstance(principal, HealthUser):
        raise Forbidden("this endpoint is for health-care users")
    return principal


HealthUserDep = Annotated[HealthUser, Depends(current_health_user)]


def require_scope(
    *scopes: str,
) -> Callable[[Principal], Coroutine[Any, Any, ServiceClient]]:
    """A dependency admitting service tokens holding any one of ``scopes``."""

    async def dependency(principal: PrincipalDep) -> ServiceClient:
        if not isinstance(principal, ServiceClient) or not any(map(principal.has, scopes)):
            raise Forbidden(f"this endpoint needs scope {' or '.join(scopes)}")
        return principal

    return dependency


def request_id_of(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


async def request_id(request: Request) -> str:
    # async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, and
    # that hop (and the GIL handover behind it) cost the lookup milliseconds (make bench).
    return request_id_of(request)


RequestIdDep = Annotated[str, Depends(request_id)]


def lookup_policy_of(request: Request) -> LookupPolicy:
    policy: LookupPolicy = request.app.state.lookup_policy
    return policy
