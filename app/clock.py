"""Dates in this service are calendar dates in Europe/London (CONTRACT §3.1)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def today_in_london() -> date:
    return datetime.now(LONDON).date()
