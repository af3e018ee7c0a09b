"""Liveness, readiness and metrics (CONTRACT §3.6); no token needed."""

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.db.migrate import head_revision
from app.observability.metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/healthz", status_code=status.HTTP_200_OK)
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    status_code=status.HTTP_200_OK,
    responses={503: {"description": "Database unreachable or migrations not at head"}},
)
async def readyz(request: Request) -> Any:
    """The database answers and its schema is at the migration head."""
    try:
        async with request.app.state.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    if current != head_revision():
        return JSONResponse({"status": "migrations not at head"}, status_code=503)
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
