"""The fast verifier re-encodes events byte for byte as the append did."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import repository, service
from app.audit.schemas import AuditKind, NewAuditEvent
from app.db.session import DatabaseURLs, create_sessionmaker, transaction
from app.db.urls import async_url


async def test_unusual_content_verifies(database: DatabaseURLs) -> None:
    engine = create_async_engine(async_url(database.service))
    maker = create_sessionmaker(engine)
    try:
        async with transaction(maker) as session:
            for detail, at in (
                ({"é": "ünïcødé ✓", "nested": {"b": [1, None, True], "a": "x"}}, None),
                ({"quote": 'a "b" \\ c', "control": "line\nbreak\ttab\u0001"}, None),
                ({}, datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC)),  # whole second: .000000
                ({"big": 2**62, "neg": -7, "empty": [], "z": {}}, None),
            ):
                await repository.append(
                    session,
                    NewAuditEvent(
                        kind=AuditKind.ADMIN_CHANGE,
                        actor={"type": "service", "sub": "ßervice", "org_code": None},
                        request_id=None,
                        detail=detail,
                        occurred_at=at,
                    ),
                )
        async with transaction(maker) as session:
            result = await service.verify(session)
    finally:
        await engine.dispose()
    assert result.ok, result.reason
    assert result.events_checked == 4
