"""How auditors see the trail over HTTP (CONTRACT §3.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.audit.schemas import AuditKind


class AuditEventView(BaseModel):
    seq: int
    kind: AuditKind
    occurred_at: datetime
    actor: dict[str, Any]
    subject_nhs_number: str | None
    unscheduled: bool | None = Field(description="Lookups: an unscheduled access (else null).")
    care_setting: str | None = Field(description="Lookups: where the child was seen.")
    request_id: str | None
    detail: dict[str, Any]
    chain: str = Field(description="The hash chain this event belongs to.")
    prev_hash: str | None = Field(
        description="Hex SHA-256 of the previous event of the same chain; null for its first."
    )
    hash: str = Field(
        description="Hex SHA-256 over prev_hash and the canonical JSON of the stored fields "
        "(seq, chain, kind, occurred_at, actor_id = actor.sub, actor, subject_nhs_number, "
        "unscheduled, care_setting, request_id, detail); see docs/audit.md."
    )


class AuditEventPage(BaseModel):
    items: list[AuditEventView]
    next_cursor: str | None = Field(
        description="Pass as `after` for the next page; null when this page was not full. "
        "To keep tailing, pass the last item's seq."
    )


class ChainHeadView(BaseModel):
    chain: str
    seq: int
    hash: str


class VerifyReport(BaseModel):
    ok: bool
    events_checked: int
    heads: list[ChainHeadView]
    first_bad_seq: int | None = Field(description="When ok is false: the first bad event.")
    reason: str | None = Field(description="When ok is false: what is wrong with it.")
