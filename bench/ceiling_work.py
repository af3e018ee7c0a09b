"""The lookup's checks around the audit row, for the C_lookup ceiling, on raw asyncpg.

The harvest count and the attendance-pattern check run the service's own statements
(asyncpg SQL, or a SQLAlchemy ``text`` clause compiled once to asyncpg's numbered form) and the
service's own pure rule functions, so the ceiling's database work moves with the
service's. What it skips is only Python around them: sessions, metrics, logging.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.elements import TextClause

from app.abuse import repository as abuse_repository
from app.notify import repository as notify_repository
from app.patterns import repository as patterns_repository
from app.patterns.rules import Attendance, AttendanceRule, attendances_of, eligible_for
from app.patterns.service import NOTIFICATION_TYPE

Connection = Any  # an asyncpg connection or pool proxy


def numbered(clause: TextClause) -> tuple[str, tuple[str, ...]]:
    """A ``text`` clause as asyncpg SQL ($1, $2, ...) and its parameter names in order."""
    compiled = clause.compile(dialect=asyncpg_dialect())
    return compiled.string, tuple(compiled.positiontup or ())


def _args(names: tuple[str, ...], values: Mapping[str, Any]) -> list[Any]:
    return [values[name] for name in names]


HARVEST = abuse_repository._COUNTS  # $1 sub, $2 org_code, $3 nhs_number, $4 window
LOCK_CHILD = patterns_repository._LOCK_CHILD
LOOKS = patterns_repository._LOOKS
ALERTED_THROUGH = patterns_repository._ALERTED_THROUGH
RECORD_ALERTS = numbered(patterns_repository._RECORD)
NOTIFY = notify_repository._INSERT_MANY
LOCK_CLASS = patterns_repository._LOCK_CLASS


async def harvest_counts(conn: Connection, sub: str, org_code: str, nhs: str,
                         window_s: int) -> asyncpg.Record:  # fmt: skip
    """The harvest check's one query (the bench raises the limits, so it never refuses)."""
    row = await conn.fetchrow(HARVEST, sub, org_code, nhs, window_s)
    assert row is not None
    return row


async def check_patterns(conn: Connection, nhs: str, types: Mapping[str, Sequence[str]],
                         now: datetime, rules: Sequence[AttendanceRule]) -> int:  # fmt: skip
    """The service's attendance-pattern check: advisory lock, two queries, maybe alerts."""
    if not rules or not types:
        return 0
    await conn.execute(LOCK_CHILD, LOCK_CLASS, nhs)
    since = now - max(rule.window for rule in rules)
    looks = await conn.fetch(LOOKS, nhs, since)
    attendances = attendances_of(Attendance(**dict(row)) for row in reversed(looks))
    alerted = await conn.fetch(ALERTED_THROUGH, nhs)
    through = {(row["local_authority_code"], row["rule"]): row["through"] for row in alerted}
    fired = []
    for code in sorted(types):
        for rule in rules:
            last = through.get((code, rule.name))
            counted = eligible_for(rule, attendances, now=now, already_alerted_through=last)
            if counted and rule.reached(counted):
                fired.append((code, rule, counted))
    if fired:
        await _raise(conn, nhs, types, fired)
    return len(fired)


async def _raise(conn: Connection, nhs: str, types: Mapping[str, Sequence[str]],
                 fired: list[tuple[str, AttendanceRule, list[Attendance]]]) -> None:  # fmt: skip
    ids = [uuid.uuid4() for _ in fired]
    payloads = [orjson.dumps({"nhs_number": nhs, "plan_types": sorted(set(types[code])),
                              "rule": rule.name, "window_days": rule.window_days,
                              "threshold": rule.threshold,
                              "attendances": [a.as_notified() for a in counted]}).decode()
                for code, rule, counted in fired]  # fmt: skip
    await conn.execute(NOTIFY, NOTIFICATION_TYPE, nhs, ids, [f[0] for f in fired], payloads)
    values = {"nhs_number": nhs, "codes": [f[0] for f in fired],
              "rules": [f[1].name for f in fired], "days": [f[1].window_days for f in fired],
              "firsts": [f[2][0].accessed_at for f in fired],
              "lasts": [f[2][-1].accessed_at for f in fired],
              "ns": [len(f[2]) for f in fired], "ids": ids}  # fmt: skip
    await conn.execute(RECORD_ALERTS[0], *_args(RECORD_ALERTS[1], values))
