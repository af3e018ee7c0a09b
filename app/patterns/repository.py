"""All SQL of attendance-pattern alerts.

The check runs on every unscheduled look at a flagged child, so its reads are fragments
the lookup puts into its own statements (app/lookup/repository.py) and its write goes
straight to asyncpg on the lookup's connection and transaction (app/db/raw.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import orjson

from app.patterns.rules import SAME_VISIT, Alert

# Enough for any configured threshold (at most 1000) after de-duplication.
MAX_LOOKS = 5000
# Two-int advisory lock space: ("patt", hash of the NHS number); other locks use bigint keys
# whose high half differs, so they cannot collide. Held until commit, it serialises the
# unscheduled looks at one flagged child: each sees every earlier one, with its alerts.
LOCK_CLASS = 0x70617474
LOCK_CHILD = "SELECT pg_advisory_xact_lock($1, hashtext($2))"

# The fragments below take their parameters by name ({nhs}, {since}) so that a statement
# can place them where its own numbering puts them.
#
# Unscheduled looks after {since}, newest first, read from the child's index of looks
# alone (ix_audit_events_lookups_by_subject holds every column read here).
LOOKS = f"""
    SELECT seq, occurred_at AS accessed_at, actor->>'name' AS user_name,
           actor->>'role_name' AS role_name, actor->>'org_code' AS org_code,
           actor->>'org_name' AS org_name, care_setting
    FROM audit_events
    WHERE subject_nhs_number = {{nhs}} AND kind = 'lookup' AND unscheduled
      AND occurred_at > {{since}}
    ORDER BY occurred_at DESC, seq DESC
    LIMIT {MAX_LOOKS}
    """
# Where the looks worth reading start: a day before the oldest alert bound over the
# (authority, rule) pairs the look concerns. An attendance at or before a pair's bound
# never counts again for that pair (rules.eligible_for), so once every pair has alerted,
# older looks cannot matter, except those of the day before the oldest bound, which decide
# whether a newer look is a new visit (rules.attendances_of). NULL while any pair has never
# alerted: then the rules' whole window is read. So the check reads the looks since the
# child's last alerts, not a year of them. {nhs}, then {codes} and {rules} as text[].
LOOKS_FLOOR = f"""
    (SELECT CASE WHEN bool_and(t.through IS NOT NULL)
                 THEN min(t.through) - make_interval(secs => {SAME_VISIT.total_seconds():g}) END
     FROM unnest({{codes}}::text[]) AS c(code) CROSS JOIN unnest({{rules}}::text[]) AS r(rule)
     LEFT JOIN LATERAL (
       SELECT max(last_attended_at) AS through FROM attendance_alerts
       WHERE nhs_number = {{nhs}} AND local_authority_code = c.code AND rule = r.rule
     ) t ON true)
    """
# (authority, rule) → newest attendance already behind an alert.
ALERTED_THROUGH = """
    SELECT local_authority_code, rule, max(last_attended_at) AS through
    FROM attendance_alerts WHERE nhs_number = {nhs}
    GROUP BY local_authority_code, rule
    """
# The notifications and their bookkeeping in one statement. The child's lock makes a
# conflict impossible; DO NOTHING only guarantees that bookkeeping can never be the
# reason a lookup fails. $1 NHS number, then one array element per alert.
RAISE = """
    WITH alert AS (
      SELECT * FROM unnest($2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::int[],
        $7::timestamptz[], $8::timestamptz[], $9::int[])
        AS a(id, code, payload, rule, days, first_at, last_at, n)
    ), notified AS (
      INSERT INTO notifications (id, local_authority_code, type, nhs_number, created_at, payload)
      SELECT id, code, 'attendance-pattern', $1, now(), payload FROM alert
    )
    INSERT INTO attendance_alerts (nhs_number, local_authority_code, rule, window_days,
      first_attended_at, last_attended_at, attendances, notification_id)
    SELECT $1, code, rule, days, first_at, last_at, n, id FROM alert
    ON CONFLICT DO NOTHING
    """


def raise_args(nhs_number: str, alerts: Sequence[Alert]) -> list[object]:
    """RAISE's parameters for ``alerts``."""
    return [
        nhs_number,
        [a.notification_id for a in alerts],
        [a.code for a in alerts],
        [orjson.dumps(a.payload).decode() for a in alerts],
        [a.rule for a in alerts],
        [a.window_days for a in alerts],
        [a.attendances[0].accessed_at for a in alerts],
        [a.attendances[-1].accessed_at for a in alerts],
        [len(a.attendances) for a in alerts],
    ]


async def raise_alerts(conn: asyncpg.Connection, nhs_number: str, alerts: Sequence[Alert]) -> None:
    await conn.execute(RAISE, *raise_args(nhs_number, alerts))
