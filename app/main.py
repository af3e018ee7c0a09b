"""The ASGI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.api import (
    access_history,
    audit,
    fhir,
    guards,
    local_authorities,
    lookups,
    nhs_numbers,
    notifications,
    operations,
    problems,
    uploads,
)
from app.auth.keys import provider_from_settings
from app.auth.token_cache import VerifiedTokens
from app.config import Settings
from app.db.pool import create_pool
from app.db.session import DatabaseURLs, create_engine, create_sessionmaker
from app.lookup.service import LookupPolicy
from app.notify.delivery import WebhookDispatcher
from app.observability.middleware import RequestContextMiddleware
from app.retention import job as retention_job

log = logging.getLogger("cpis")

DESCRIPTION = """
Child-protection flags for England's unscheduled care.

Health-care users (CIS2 tokens with activity B0107 or B0170) look children up by NHS
number; every look is audited in the same transaction, and unscheduled looks at a
flagged child notify the responsible local authorities. Errors are RFC 9457
`application/problem+json` with a stable `code`; under `/fhir/R4` (NHS England's
CP-IS FHIR API) they are FHIR `OperationOutcome`s.
"""


def create_app(settings: Settings, urls: DatabaseURLs) -> FastAPI:
    """Build the app for one database; the engine lives as long as the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, urls)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.lookup_pool = await create_pool(settings, urls)
        app.state.jwks = provider_from_settings(settings)
        app.state.verified_tokens = VerifiedTokens()
        if settings.development_mode:
            log.warning(
                "DEVELOPMENT MODE: tokens are signed by a local key (cpis token); "
                "never use this mode with real patient data"
            )
        dispatcher = None
        if settings.webhook_dispatch:
            dispatcher = WebhookDispatcher(app.state.sessionmaker, settings)
            await dispatcher.start()
        purge_job = retention_job.start(app.state.sessionmaker, settings.purge_interval_seconds)
        try:
            yield
        finally:
            await retention_job.stop(purge_job)
            if dispatcher is not None:
                await dispatcher.stop()
            await app.state.jwks.aclose()
            await app.state.lookup_pool.close()
            await engine.dispose()

    app = FastAPI(
        title="cpis",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.lookup_policy = LookupPolicy.from_settings(settings)
    problems.install(app)
    guards.install(app, settings)  # inside the request context: refusals get ids and headers
    app.add_middleware(RequestContextMiddleware)
    app.include_router(operations.router)
    app.include_router(lookups.router)
    app.include_router(notifications.router)
    app.include_router(local_authorities.router)
    app.include_router(nhs_numbers.router)
    app.include_router(fhir.router)
    app.include_router(uploads.router)
    app.include_router(audit.router)
    app.include_router(access_history.router)
    return app
