"""All SQL of the lookup: one statement for a child with no visible plan, else two in a
transaction.

A lookup is on every registration, and on a small machine its round trips cost more than
the database work inside them (``make bench``: L1, L2). So its work is folded into few
statements on a connection of the lookup's own pool (app/db/pool.py):

0. ``quick()``, outside any transaction: the caller's harvest counts and the visible
   plans; when there are none (most lookups) it also appends the audit row and commits,
   and the lookup is done in one round trip. Otherwise it returns the counts, which the
   service checks against the harvest limits before it opens a transaction.
1. ``OPEN``, in the lookup's transaction: the visible plans, a free audit chain head
   (locked, with seq drawn under the lock) and, for an unscheduled look at a flagged
   child, the child's lock.
2. ``RECORD`` (flagged child): the audit row and the head move, the ``access``
   notifications, then the history and what the attendance-pattern check needs, read in
   the same round trip. (``APPEND`` alone when ``quick`` fell through for want of a free
   head.)

The reads of ``RECORD`` share its snapshot, so they do not see the row it inserts: it lists
the current look from its own parameters. Unscheduled looks at one flagged child hold the
child's lock until commit, so every earlier one is visible and none can land between the
snapshot and the commit. ``RECORD`` answers the access history as the JSON array the
response carries, so that up to 25 entries are neither decoded, validated nor encoded
again in Python."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.abuse import repository as abuse
from app.abuse.schemas import LookupCounts
from app.audit import repository as audit
from app.audit.chain import SQL_EVENT_HASH, encoded_after_place
from app.audit.repository import Head, Stamped
from app.db.raw import driver_connection
from app.patterns import repository as patterns
from app.plans.visibility import visible_sql

HISTORY_LIMIT = 25
SAME_USER_WINDOW = "interval '24 hours'"

_PLANS = f"""
    SELECT p.plan_type, p.start_date, p.end_date, la.code, la.name,
           la.office_hours_phone, la.emergency_duty_phone
    FROM plans p JOIN local_authorities la ON la.code = p.local_authority_code
    WHERE p.nhs_number = {{nhs}} AND {visible_sql("p").replace(":today", "{today}")}
    ORDER BY p.start_date DESC, la.code, p.plan_type
    """

# A look is listed unless the same user looked at the same child in the 24 hours
# before it: the first look of a burst stands for the burst (CONTRACT §3.1).
# OFFSET 0 keeps NOT EXISTS a per-row probe of the 24 hours before each listed look.
# Without it PostgreSQL turned it into an anti-join that read *every* unscheduled look at
# the child (28 ms for a child with 2,000 in a 10 M-event trail, make bench L3); with it
# the work stays bounded by the 25 rows listed, however long the trail grows.
# The lookup reads only columns of ix_audit_events_lookups_by_subject, so a child's
# history comes from a few adjacent index pages, not from a heap page per listed look
# scattered over the trail (migrations 20261128_09 and _10). The FHIR AuditEvent search
# also needs request_id, and visits the heap for it.
_LISTED = """a.seq, a.occurred_at AS accessed_at, a.actor->>'name' AS user_name,
           a.actor->>'role_name' AS role_name, a.actor->>'org_code' AS org_code,
           a.actor->>'org_name' AS org_name, a.care_setting"""


def _looked_before(nhs: str, actor: str, at: str) -> str:
    """EXISTS: ``actor`` looked unscheduled at the child ``nhs`` in the 24 hours before
    ``at``, which hides the look at ``at`` from the history (SQL expressions, all three)."""
    return f"""EXISTS (
        SELECT 1 FROM audit_events b
        WHERE b.subject_nhs_number = {nhs} AND b.kind = 'lookup' AND b.unscheduled
          AND b.actor_id = {actor}
          AND b.occurred_at < {at}
          AND b.occurred_at > {at} - {SAME_USER_WINDOW}
        OFFSET 0)"""


_LISTED_LOOK_HIDDEN = _looked_before("{nhs}", "a.actor_id", "a.occurred_at")
_HISTORY = f"""
    SELECT {{columns}}
    FROM audit_events a
    WHERE a.subject_nhs_number = {{nhs}} AND a.kind = 'lookup' AND a.unscheduled
      AND NOT {_LISTED_LOOK_HIDDEN}
    ORDER BY a.occurred_at DESC, a.seq DESC
    LIMIT {HISTORY_LIMIT}
    """

# The access history as the response's JSON array (CONTRACT §3.1), newest first, from the
# _LISTED rows of {source}. accessed_at is written as pydantic writes a UTC datetime
# (app/lookup/schemas.py, AccessEntry): microseconds only when there are any, then "Z".
_HISTORY_JSON = """
    SELECT '[' || coalesce(string_agg(row_to_json(e)::text, ','
                                      ORDER BY h.accessed_at DESC, h.seq DESC), '') || ']'
    FROM {source} h CROSS JOIN LATERAL (
      SELECT to_char(h.accessed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
               || CASE WHEN extract(microseconds FROM h.accessed_at) % 1000000 = 0 THEN ''
                       ELSE to_char(h.accessed_at AT TIME ZONE 'UTC', '.US') END
               || 'Z' AS accessed_at,
             h.user_name, h.role_name, h.org_code, h.org_name, h.care_setting
    ) e
    """

_SHOWN = f"""
    SELECT array_agg(p ORDER BY p.start_date DESC, p.code, p.plan_type) AS plans
    FROM ({_PLANS}) p
    """

# The history and plans on their own (the FHIR AuditEvent search): $1 NHS number, $2 today.
VISIBLE_PLANS = _PLANS.format(nhs="$1", today="$2")
UNSCHEDULED_HISTORY = _HISTORY.format(nhs="$1", columns=f"{_LISTED}, a.actor_id, a.request_id")


@functools.cache
def quick(window_seconds: int) -> str:
    """The lookup's first statement, for one harvest window (app/abuse/repository.py
    writes the window into the statement, so PostgreSQL keeps one generic plan for it)."""
    counts = abuse.counts_sql(window_seconds)
    shown = _SHOWN.format(nhs="$3", today="$4")
    # An unflagged child's lookup in one statement, outside any transaction (so one round
    # trip in all): the counts, plans and a free head, and when no plan is visible and the
    # caller is within its limits, the audit row, hashed onto its chain here (the canonical
    # encoding after seq and chain comes from app/audit/chain.py) and committed with the
    # statement. Otherwise nothing is written, the counts are returned and the lookup
    # takes the ``OPEN`` path.
    # $1 sub (also the actor id), $2 org_code, $3 NHS number, $4 today, $5 user limit,
    # $6 organisation limit, $7 occurred_at, $8 actor, $9 unscheduled, $10 care setting,
    # $11 request id, $12 detail, $13 the encoding after seq and chain.
    # A head is locked only for a child with no visible plan: a flagged child's lookup
    # takes its head in ``OPEN``.
    return f"""
    WITH counts AS ({counts}),
    shown AS ({shown}),
    {audit.FREE_HEAD.format(when="(SELECT plans IS NULL FROM shown)")},
    slot AS (
      SELECT h.chain, h.last_hash, nextval('audit_events_seq') AS seq
      FROM head h, shown s, counts c
      WHERE s.plans IS NULL
        AND (c.user_seen OR c.user_distinct < $5) AND (c.org_seen OR c.org_distinct < $6)
    ),
    stamped AS (
      SELECT chain, last_hash, seq,
             {SQL_EVENT_HASH.format(prev="last_hash", seq="seq", chain="chain", rest="$13")}
               AS hash
      FROM slot
    ),
    event AS (
      INSERT INTO audit_events (seq, chain, kind, occurred_at, actor_id, actor,
        subject_nhs_number, unscheduled, care_setting, request_id, detail, prev_hash, hash)
      SELECT seq, chain, 'lookup', $7, $1, $8::jsonb, $3, $9, $10, $11, $12::jsonb,
             last_hash, hash
      FROM stamped
    ),
    moved AS (
      UPDATE audit_chain_heads h SET last_seq = s.seq, last_hash = s.hash
      FROM stamped s WHERE h.chain = s.chain
    )
    SELECT EXISTS (SELECT 1 FROM stamped) AS recorded,
           c.user_distinct, c.user_seen, c.org_distinct, c.org_seen
    FROM counts c
    """


# The plans in the lookup's transaction, with a free audit chain head (locked, seq drawn
# under the lock) and, for an unscheduled look at a flagged child, the child's lock.
# $1 NHS number, $2 today, $3 lock the child if it is flagged. The head is LEFT JOINed so
# the plans come back even when every head is busy; seq and the child's lock are evaluated
# per output row, so after the head's row lock is taken, and only when one was.
OPEN = f"""
    WITH {audit.FREE_HEAD_CTE},
    shown AS ({_SHOWN.format(nhs="$1", today="$2")})
    SELECT s.plans, h.chain, h.last_hash,
           CASE WHEN h.chain IS NOT NULL THEN nextval('audit_events_seq') END AS seq,
           CASE WHEN h.chain IS NOT NULL AND $3::boolean AND s.plans IS NOT NULL
                THEN pg_advisory_xact_lock({patterns.LOCK_CLASS}, hashtext($1))::text
           END AS child_locked
    FROM shown s LEFT JOIN head h ON true
    """


_LOOKS_SINCE = f"GREATEST($18, {patterns.LOOKS_FLOOR.format(nhs='$7', codes='$19', rules='$20')})"
# This look, as the history lists it: when unscheduled ($8) and the same user ($5) did not
# look at the child ($7) in the 24 hours before it ($4): the first look of a burst stands
# for the burst (CONTRACT §3.1). Being the newest, it never hides an earlier entry.
_THIS_LOOK = f"""
    SELECT $1::bigint, $4::timestamptz, $6::jsonb->>'name', $6::jsonb->>'role_name',
           $6::jsonb->>'org_code', $6::jsonb->>'org_name', $9::text
    WHERE $8::boolean AND NOT {_looked_before("$7", "$5", "$4")}
    """
_LISTED_WITH_THIS_LOOK = f"""(
      SELECT * FROM ({_HISTORY.format(nhs="$7", columns=_LISTED)}) earlier
      UNION ALL {_THIS_LOOK}
      ORDER BY accessed_at DESC, seq DESC
      LIMIT {HISTORY_LIMIT})"""
# $1 … $13 the audit row (app/audit/repository.py), $14 notification ids, $15 their
# authorities, $16 their payloads (empty arrays for a silent look), $17 read what the
# attendance-pattern check needs, $18 from when at the earliest (the widest rule's window),
# $19 the responsible authorities and $20 the rules, whose alerts may move that later
# (patterns.LOOKS_FLOOR). $7 is the NHS number, $5 the actor, $4 now.
RECORD = f"""
    WITH {audit.APPEND_CTES},
    notified AS (
      INSERT INTO notifications (id, local_authority_code, type, nhs_number, created_at, payload)
      SELECT n.id, n.code, 'access', $7, now(), n.payload
      FROM unnest($14::uuid[], $15::text[], $16::jsonb[]) AS n(id, code, payload)
    )
    SELECT
      ({_HISTORY_JSON.format(source=_LISTED_WITH_THIS_LOOK)}) AS history,
      CASE WHEN $17::boolean THEN
        (SELECT array_agg(l ORDER BY l.accessed_at DESC, l.seq DESC)
         FROM ({patterns.LOOKS.format(nhs="$7", since=_LOOKS_SINCE)}) l)
      END AS looks,
      CASE WHEN $17::boolean THEN
        (SELECT array_agg(t) FROM ({patterns.ALERTED_THROUGH.format(nhs="$7")}) t)
      END AS alerted
    """

# Field positions in the rows these statements aggregate.
PLAN_FIELDS = ("plan_type", "start_date", "end_date", "code", "name",
               "office_hours_phone", "emergency_duty_phone")  # fmt: skip
LOOK_FIELDS = ("seq", "accessed_at", "user_name", "role_name", "org_code", "org_name",
               "care_setting")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Opened:
    """What ``OPEN`` found."""

    plans: list[dict[str, Any]]  # PLAN_FIELDS, newest start first
    head: Head | None  # None: every chain head was busy
    child_locked: bool


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the lookup's second statement read, as of before its own row."""

    history: str  # the access history with this look, as a JSON array (CONTRACT §3.1)
    looks: list[dict[str, Any]]  # LOOK_FIELDS, newest first (only when asked for)
    alerted_through: dict[tuple[str, str], datetime]


def _dicts(rows: Sequence[tuple[Any, ...]] | None, names: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows or ()]


async def open_lookup(
    conn: asyncpg.Connection, *, nhs_number: str, today: date, lock_if_flagged: bool
) -> Opened:
    row = await conn.fetchrow(OPEN, nhs_number, today, lock_if_flagged)
    assert row is not None  # an aggregate: always exactly one row
    head = None if row["chain"] is None else Head(row["chain"], row["last_hash"], row["seq"])
    locked = row["child_locked"] is not None
    return Opened(_dicts(row["plans"], PLAN_FIELDS), head, locked)


async def record_if_unflagged(
    conn: asyncpg.Connection,
    *,
    fields: dict[str, Any],
    org_code: str,
    window_seconds: int,
    today: date,
    limits: tuple[int, int],
) -> LookupCounts | None:
    """``quick`` for an event's ``fields`` (without seq and chain: it draws them): None
    when it recorded the lookup, which is then done, else the caller's harvest counts."""
    row = await conn.fetchrow(
        quick(window_seconds),
        fields["actor_id"],
        org_code,
        fields["subject_nhs_number"],
        today,
        *limits,
        fields["occurred_at"],
        orjson.dumps(fields["actor"]).decode(),
        fields["unscheduled"],
        fields["care_setting"],
        fields["request_id"],
        orjson.dumps(fields["detail"]).decode(),
        encoded_after_place(fields),
    )
    assert row is not None  # aggregates: always exactly one row
    if row["recorded"]:
        return None
    return LookupCounts(
        row["user_distinct"], row["user_seen"], row["org_distinct"], row["org_seen"]
    )


async def lock_head(conn: asyncpg.Connection) -> Head:
    """A head when ``open`` found every one busy: queue on one."""
    return await audit.lock_head(conn)


async def lock_child(conn: asyncpg.Connection, nhs_number: str) -> None:
    await conn.execute(patterns.LOCK_CHILD, patterns.LOCK_CLASS, nhs_number)


async def append(conn: asyncpg.Connection, event: Stamped) -> None:
    """An unflagged child's lookup: the audit row alone."""
    await conn.execute(audit.APPEND, *event.args())


async def record(
    conn: asyncpg.Connection,
    event: Stamped,
    *,
    notifications: Sequence[tuple[Any, str, dict[str, Any]]],
    looks_since: datetime | None,
    alerts_for: tuple[Sequence[str], Sequence[str]],
) -> Recorded:
    """A flagged child's lookup: audit row, (id, authority, payload) notifications, reads.

    The looks are read from ``looks_since`` (None: not at all), or later where the alerts
    already raised for ``alerts_for`` (authorities, rule names) allow."""
    row = await conn.fetchrow(
        RECORD,
        *event.args(),
        [n[0] for n in notifications],
        [n[1] for n in notifications],
        [orjson.dumps(n[2]).decode() for n in notifications],
        looks_since is not None,
        looks_since,
        alerts_for[0],
        alerts_for[1],
    )
    assert row is not None
    through = {(code, rule): at for code, rule, at in row["alerted"] or ()}
    return Recorded(
        row["history"],
        _dicts(row["looks"], LOOK_FIELDS),
        through,
    )


async def visible_plans(
    session: AsyncSession, nhs_number: str, today: date
) -> Sequence[asyncpg.Record]:
    conn = await driver_connection(session)
    return await conn.fetch(VISIBLE_PLANS, nhs_number, today)


async def unscheduled_history(session: AsyncSession, nhs_number: str) -> Sequence[asyncpg.Record]:
    conn = await driver_connection(session)
    return await conn.fetch(UNSCHEDULED_HISTORY, nhs_number)
