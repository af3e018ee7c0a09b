"""Access-history search latency: page 1 against a deep page, through the real service.

    .venv/bin/python bench/load_audit_events.py --events 1000000
    .venv/bin/python bench/load_audit_events.py --events 20000 --children 1 --seed 7
    .venv/bin/python bench/history_latency.py

Each timed call is the service's search in its own committed transaction (the
search's own audit row included), as an auditor, on the child with most accesses.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from sqlalchemy import text

from app.auth.principals import SCOPE_AUDIT, ServiceClient
from app.config import get_settings
from app.db.runtime import open_database
from app.db.session import create_engine, create_sessionmaker, transaction
from app.history import service
from app.history.schemas import HistorySearch

AUDITOR = ServiceClient(sub="bench-auditor", org_code=None, scopes=frozenset({SCOPE_AUDIT}))
RUNS = 300


async def measure(urls: object) -> None:
    settings = get_settings()
    engine = create_engine(settings, urls)  # type: ignore[arg-type]
    maker = create_sessionmaker(engine)
    async with transaction(maker) as session:
        total = await session.scalar(text("SELECT count(*) FROM audit_events"))
        hot, looks = (
            await session.execute(
                text(
                    "SELECT subject_nhs_number, count(*) FROM audit_events WHERE kind = 'lookup'"
                    " GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
                )
            )
        ).one()
        deep = await session.scalar(
            text(
                "SELECT seq FROM audit_events WHERE subject_nhs_number = :n AND kind = 'lookup'"
                " ORDER BY seq DESC OFFSET 9900 LIMIT 1"
            ),
            {"n": hot},
        )
    print(f"{total:,} events; child with most accesses has {looks:,}")
    for label, cursor in (("page 1", None), ("page 100", service.encode_cursor(deep))):
        query = HistorySearch(nhs_number=hot, limit=100, cursor=cursor)
        timings = []
        for _ in range(RUNS):
            began = time.perf_counter()
            async with transaction(maker) as session:
                page = await service.search(session, AUDITOR, query, request_id="bench")
            timings.append((time.perf_counter() - began) * 1000)
            assert page is not None
            assert len(page.items) == 100
        timings.sort()
        p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
        print(f"{label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {RUNS} searches")
    await engine.dispose()


def main() -> None:
    with open_database(get_settings()) as urls:
        asyncio.run(measure(urls))


if __name__ == "__main__":
    main()
