"""Checking one uploaded record, the same way for CSV and JSON.

Every problem with a record is reported in one rejection, in words a local
authority's data officer can act on. A bad NHS number makes it ``CPR04``;
anything else ``CPR07``. ``CPR05`` (superseded) and duplicate plans need the
database or the whole file, and are found after loading (see repository.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from app.nhs_number import MAX_INPUT_LENGTH, problem_with

FIELDS = ("nhs_number", "plan_type", "start_date", "end_date", "delete_date", "local_id")
PLAN_TYPES = frozenset({"CPP", "LAC", "UCPP"})
MAX_LOCAL_ID = 100
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Nightly files repeat the same few thousand dates; parsing each once is measurably faster.
_DATE_CACHE: dict[str, bool] = {}
_DATE_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class CheckedRecord:
    """A record after checking: ``problems`` empty means it may be loaded."""

    nhs_number: str | None  # 10 digits when valid, else as sent (bounded) or None
    nhs_valid: bool
    values: tuple[str | None, ...]  # plan_type, start, end, delete, local_id (valid only)
    problems: tuple[str, ...]

    @property
    def code(self) -> str:
        return "CPR07" if self.nhs_valid else "CPR04"


def _text(value: object, name: str, problems: list[str]) -> str | None:
    """The stripped text of a field; None for empty/absent; a problem if not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{name} must be text (a JSON string)")
        return None
    value = value.strip()
    return value or None


def _is_date(text: str) -> bool:
    known = _DATE_CACHE.get(text)
    if known is not None:
        return known
    ok = _ISO_DATE.fullmatch(text) is not None
    if ok:
        try:
            date.fromisoformat(text)
        except ValueError:
            ok = False
    if len(_DATE_CACHE) < _DATE_CACHE_LIMIT:
        _DATE_CACHE[text] = ok
    return ok


def _date(raw: object, name: str, problems: list[str], *, required: bool) -> str | None:
    value = _text(raw, name, problems)
    if value is None:
        if required:
            problems.append(f"{name} is missing")
        return None
    if not _is_date(value):
        problems.append(f"{name} must be a real date written YYYY-MM-DD")
        return None
    return value


def _plain_valid(raw: str) -> bool:
    """Fast path for the usual case, ten ASCII digits (measured: most of the per-row cost).

    Same rule as ``app.nhs_number.check_digit``; anything else goes the slow way for
    its wording.
    """
    if len(raw) != 10 or not (raw.isascii() and raw.isdigit()):
        return False
    b = raw.encode()
    total = (
        (b[0] * 10 + b[1] * 9 + b[2] * 8 + b[3] * 7 + b[4] * 6 + b[5] * 5 + b[6] * 4 + b[7] * 3)
        + b[8] * 2
        - 48 * 54
    )  # 54 = sum of the weights; b[i] - 48 is the digit
    digit = 11 - total % 11
    return digit != 10 and (0 if digit == 11 else digit) == b[9] - 48


def _shown(raw: str) -> str:
    """A rejected NHS number as echoed back: bounded, and anything unprintable (NUL, lone
    surrogates, bidirectional marks) replaced, since the acknowledgement is stored as
    jsonb, serialised as JSON and shown to people (NUL and surrogates broke both)."""
    return "".join(c if c.isprintable() else "\ufffd" for c in raw[:MAX_INPUT_LENGTH])


def _nhs_number(value: object, problems: list[str]) -> tuple[str | None, bool]:
    if value is not None and not isinstance(value, str):
        problems.append("nhs_number must be text (a JSON string), 10 digits")
        return None, False
    raw = (value or "").strip()
    if _plain_valid(raw):
        return raw, True
    if not raw:
        problems.append("nhs_number is missing")
        return None, False
    problem = problem_with(raw)
    if problem is not None:
        problems.append(f"nhs_number {problem}")
        return _shown(raw), False
    return raw.replace(" ", ""), True


def check_record(values: tuple[object, ...]) -> CheckedRecord:
    """Check one record given as the six ``FIELDS`` values (str, None, or JSON values)."""
    problems: list[str] = []
    nhs, nhs_valid = _nhs_number(values[0], problems)
    plan_type = _text(values[1], "plan_type", problems)
    if plan_type is None:
        problems.append("plan_type is missing")
    elif plan_type not in PLAN_TYPES:
        problems.append("plan_type must be CPP, LAC or UCPP")
    start = _date(_text(values[2], "start_date", problems), "start_date", problems, required=True)
    end = _date(_text(values[3], "end_date", problems), "end_date", problems, required=False)
    delete = _date(
        _text(values[4], "delete_date", problems), "delete_date", problems, required=False
    )
    if start and end and end < start:  # ISO dates order as text
        problems.append("end_date is before start_date")
    local_id = _text(values[5], "local_id", problems)
    if local_id is not None and len(local_id) > MAX_LOCAL_ID:
        problems.append(f"local_id is longer than {MAX_LOCAL_ID} characters")
    elif local_id is not None and not local_id.isprintable():
        problems.append("local_id contains control characters")
    return CheckedRecord(nhs, nhs_valid, (plan_type, start, end, delete, local_id), tuple(problems))
