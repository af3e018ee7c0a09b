"""The access-history query's work is bounded by what it lists, not by the trail's length."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.lookup.repository import UNSCHEDULED_HISTORY
from tests.support import CHILD_A

LOOKS = 600


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def test_history_of_a_much_looked_up_child_reads_only_what_it_lists(
    owner_db: asyncpg.Connection,
) -> None:
    start = datetime.now(UTC) - timedelta(days=400)
    rows = [
        (seq, 0, "lookup", start + timedelta(hours=12 * seq), f"user-{seq % 50}",
         orjson.dumps({"sub": f"user-{seq % 50}", "name": "N"}).decode(), CHILD_A, True,
         "emergency-department", "r", "{}", None, b"x")
        for seq in range(1, LOOKS + 1)
    ]  # fmt: skip
    await owner_db.copy_records_to_table(
        "audit_events",
        records=rows,
        columns=["seq", "chain", "kind", "occurred_at", "actor_id", "actor",
                 "subject_nhs_number", "unscheduled", "care_setting", "request_id", "detail",
                 "prev_hash", "hash"],
    )  # fmt: skip
    await owner_db.execute("ANALYZE audit_events")
    explained = await owner_db.fetchval(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + UNSCHEDULED_HISTORY, CHILD_A
    )
    plan = orjson.loads(explained)[0]["Plan"]
    assert plan["Actual Rows"] == 25
    read = max(node["Actual Rows"] * node["Actual Loops"] for node in _nodes(plan))
    assert read < LOOKS / 10
    # On a 10 M-event trail the planner chose an anti-join over every look at the child
    # (costed on the trail's statistics, which a test database cannot reproduce): the
    # 24-hour check must stay a per-row probe, whatever the statistics say.
    assert any(node.get("Parent Relationship") == "SubPlan" for node in _nodes(plan))
