"""The attendance rules and what counts as an attendance (pure functions, no SQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.config import Settings
from app.notify.ids import notification_id

SAME_VISIT = timedelta(hours=24)
RULE_ORGANISATIONS = "different-organisations"
RULE_ATTENDANCES = "attendances"


@dataclass(frozen=True)
class Attendance:
    seq: int
    accessed_at: datetime
    user_name: str | None
    role_name: str | None
    org_code: str | None
    org_name: str | None
    care_setting: str | None

    def as_notified(self) -> dict[str, Any]:
        return {
            "accessed_at": self.accessed_at.isoformat(),
            "user_name": self.user_name,
            "role_name": self.role_name,
            "org_code": self.org_code,
            "org_name": self.org_name,
            "care_setting": self.care_setting,
        }


@dataclass(frozen=True)
class AttendanceRule:
    """Reached when ``threshold`` attendances (or distinct organisations) fall in the window."""

    name: str
    threshold: int
    window_days: int

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def reached(self, attendances: Sequence[Attendance]) -> bool:
        if self.name == RULE_ORGANISATIONS:
            return len({a.org_code for a in attendances}) >= self.threshold
        return len(attendances) >= self.threshold


def rules_from_settings(settings: Settings) -> tuple[AttendanceRule, ...]:
    """The configured rules; a threshold of 0 switches a rule off."""
    rules = (
        AttendanceRule(
            RULE_ORGANISATIONS, settings.pattern_organisations, settings.pattern_organisations_days
        ),
        AttendanceRule(
            RULE_ATTENDANCES, settings.pattern_attendances, settings.pattern_attendances_days
        ),
    )
    return tuple(rule for rule in rules if rule.threshold > 0)


def attendances_of(looks: Iterable[Attendance]) -> list[Attendance]:
    """Unscheduled looks (oldest first) reduced to attendances.

    One visit produces several looks (registration, triage, the doctor), so a look
    is not a new attendance when the same organisation looked at the child in the
    24 hours before it: the first look stands for the visit. This mirrors the
    lookup history's 24-hour rule, keyed on the organisation rather than the user.
    """
    last_look: dict[str | None, datetime] = {}
    counted = []
    for look in looks:
        previous = last_look.get(look.org_code)
        if previous is None or look.accessed_at - previous >= SAME_VISIT:
            counted.append(look)
        last_look[look.org_code] = look.accessed_at
    return counted


def eligible_for(
    rule: AttendanceRule,
    attendances: Sequence[Attendance],
    *,
    now: datetime,
    already_alerted_through: datetime | None,
) -> list[Attendance]:
    """The attendances a new alert of ``rule`` may count: inside the window ending ``now``
    and after the newest attendance behind the previous alert of this rule, so each
    attendance contributes to at most one alert per rule and authority."""
    start = now - rule.window
    return [
        a
        for a in attendances
        if a.accessed_at > start
        and (already_alerted_through is None or a.accessed_at > already_alerted_through)
    ]


@dataclass(frozen=True)
class Alert:
    """One alert to raise: a notification to authority ``code`` and its bookkeeping."""

    code: str
    rule: str
    window_days: int
    attendances: Sequence[Attendance]  # oldest first, never empty
    payload: dict[str, Any]
    notification_id: uuid.UUID = field(default_factory=notification_id)
