"""All SQL of harvest detection: counts over the caller's recent lookups in audit_events."""

from __future__ import annotations

import asyncpg


# Two index range scans (ix_audit_events_lookups_by_actor / _by_org), each answered from
# the index alone where the visibility map allows (migration 20261128_08). The window ends at
# now() (transaction start), so every lookup that committed before ours counts. It runs on
# every lookup, as part of the lookup's first statement (app/lookup/repository.py).
# $1 sub, $2 org_code, $3 nhs_number. The window is written into the statement (it is a
# setting, an integer): as a parameter, PostgreSQL could not estimate the range in a
# generic plan and re-planned the statement on every execution (0.25 ms against 0.10 ms
# per count on the benchmark's 10 M events).
def counts_sql(window_seconds: int) -> str:
    window = f"make_interval(secs => {int(window_seconds)})"
    return f"""
    SELECT u.n AS user_distinct, u.seen AS user_seen, o.n AS org_distinct, o.seen AS org_seen
    FROM (
      SELECT count(DISTINCT subject_nhs_number) AS n,
             coalesce(bool_or(subject_nhs_number = $3), false) AS seen
      FROM audit_events
      WHERE kind = 'lookup' AND actor_id = $1 AND occurred_at > now() - {window}
    ) u, (
      SELECT count(DISTINCT subject_nhs_number) AS n,
             coalesce(bool_or(subject_nhs_number = $3), false) AS seen
      FROM audit_events
      WHERE kind = 'lookup' AND actor_org_code = $2 AND occurred_at > now() - {window}
    ) o
    """


# Only on the refusal path: when will the window hold one child fewer? Each child leaves it
# when its *latest* look does, so the earliest such moment is the answer. $1 the key,
# $2 the window in seconds.
def _seconds_until_one_leaves_sql(key_column: str) -> str:
    return f"""
    SELECT ceil(extract(epoch FROM min(latest) + make_interval(secs => $2) - now()))
    FROM (SELECT max(occurred_at) AS latest FROM audit_events
          WHERE kind = 'lookup' AND {key_column} = $1
            AND occurred_at > now() - make_interval(secs => $2)
          GROUP BY subject_nhs_number) s
    """


_SECONDS_UNTIL_ONE_LEAVES = {
    "user": _seconds_until_one_leaves_sql("actor_id"),
    "organisation": _seconds_until_one_leaves_sql("actor_org_code"),
}


async def seconds_until_one_leaves(
    conn: asyncpg.Connection, *, limit: str, key: str, window_seconds: int
) -> int | None:
    value = await conn.fetchval(_SECONDS_UNTIL_ONE_LEAVES[limit], key, float(window_seconds))
    return None if value is None else int(value)
