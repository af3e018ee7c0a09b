"""When a plan is visible (CONTRACT §3.1), in one place for every query that needs it.

A plan is visible up to and including its delete date; without one, up to and
including its end date + 12 months; without an end date, always. A plan withdrawn
by a snapshot upload is never visible. "Today" is the Europe/London calendar date,
passed in as the ``:today`` parameter so that tests can move the clock.
"""

from datetime import date
from typing import Literal

VISIBLE = """(
  {p}.withdrawn_at IS NULL AND CASE
    WHEN {p}.delete_date IS NOT NULL THEN {p}.delete_date >= :today
    WHEN {p}.end_date IS NOT NULL THEN ({p}.end_date + interval '12 months')::date >= :today
    ELSE true
  END
)"""


def visible_sql(alias: str) -> str:
    """The visibility rule as a SQL condition on plans aliased ``alias``."""
    return VISIBLE.format(p=alias)


def plan_status(end_date: date | None, today: date) -> Literal["active", "ended"]:
    """``active`` while there is no end date or it is today or later, else ``ended``."""
    return "active" if end_date is None or end_date >= today else "ended"
