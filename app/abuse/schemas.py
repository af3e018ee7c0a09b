"""Harvest limits and what a refusal carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.config import Settings
from app.errors import TooManyRequests

LimitKind = Literal["user", "organisation"]


@dataclass(frozen=True, slots=True)
class HarvestLimits:
    """Distinct NHS numbers per user and per organisation in a sliding window."""

    user: int
    organisation: int
    window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> HarvestLimits:
        return cls(
            user=settings.harvest_user_limit,
            organisation=settings.harvest_org_limit,
            window_seconds=settings.harvest_window_seconds,
        )


@dataclass(frozen=True, slots=True)
class LookupCounts:
    """What the window holds for the caller, from one indexed query."""

    user_distinct: int
    user_seen: bool  # this NHS number is already in the user's window (a repeat is free)
    org_distinct: int
    org_seen: bool


class HarvestingSuspected(TooManyRequests):
    """429 for a caller over a harvest limit; rendered with an audited ``abuse-alert``."""

    def __init__(self, limit: LimitKind, limits: HarvestLimits, retry_after: int) -> None:
        allowed = limits.user if limit == "user" else limits.organisation
        super().__init__(
            f"more than {allowed} different NHS numbers looked up by this "
            f"{limit} within {limits.window_seconds} s; retry later",
            headers={"Retry-After": str(retry_after)},
        )
        self.limit: LimitKind = limit
        self.allowed = allowed
        self.window_seconds = limits.window_seconds
        self.retry_after = retry_after
