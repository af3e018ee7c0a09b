"""Request and response of the access-history search (CONTRACT §3.4)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.nhs_number import NHSNumber
from app.pagination import CURSOR_PATTERN

MAX_CURSOR = 100


class HistorySearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nhs_number: NHSNumber
    since: AwareDatetime | None = Field(
        default=None, description="Only accesses at or after this moment (RFC 3339)."
    )
    until: AwareDatetime | None = Field(
        default=None, description="Only accesses before this moment (RFC 3339, exclusive)."
    )
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR,
        pattern=CURSOR_PATTERN,
        description="`next_cursor` of the previous page.",
    )


class HistoryEntry(BaseModel):
    accessed_at: datetime
    user_id: str | None
    user_name: str | None
    role_name: str | None
    org_code: str | None
    org_name: str | None
    care_setting: str | None
    unscheduled: bool
    request_id: str | None


class HistoryPage(BaseModel):
    items: list[HistoryEntry] = Field(
        description="Every lookup of the NHS number, scheduled and unscheduled, newest first."
    )
    next_cursor: str | None
