"""The ASGI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.api import lookups, operations, problems
from app.auth.keys import provider_from_settings
from app.auth.token_cache import VerifiedTokens
from app.config import Settings
from app.db.session import DatabaseURLs, create_engine, create_sessionmaker
from app.observability.middleware import RequestContextMiddleware

log = logging.getLogger("cpis")

DESCRIPTION = """
Child-protection flags for England's unscheduled care.

Health-care users (CIS2 tokens with activity B0107 or B0170) look children up by NHS
number; every look is audited in the same transaction, and unscheduled looks at a
flagged child notify the responsible local authorities. Errors are RFC 9457
`application/problem+json` with a stable `code`.
"""


def create_app(settings: Settings, urls: DatabaseURLs) -> FastAPI:
    """Build the app for one database; the engine lives as long as the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, urls)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.jwks = provider_from_settings(settings)
        app.state.verified_tokens = VerifiedTokens()
        if settings.development_mode:
            log.warning(
                "DEVELOPMENT MODE: tokens are signed by a local key (cpis token); "
                "never use this mode with real patient data"
            )
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="cpis",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(operations.router)
    app.include_router(lookups.router)
    return app
