"""What the audit trail records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuditKind(StrEnum):
    """Every kind of audited action (listed in the OpenAPI schema)."""

    LOOKUP = "lookup"
    UPLOAD = "upload"
    HISTORY_SEARCH = "history-search"
    ADMIN_CHANGE = "admin-change"
    ACCESS_DENIED = "access-denied"
    AUDIT_READ = "audit-read"
    PURGE = "purge"
    ABUSE_ALERT = "abuse-alert"


@dataclass(frozen=True)
class NewAuditEvent:
    """An event about to be appended; seq, chain and hashes are assigned on append."""

    kind: AuditKind
    actor: dict[str, Any]
    request_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    subject_nhs_number: str | None = None
    unscheduled: bool | None = None
    care_setting: str | None = None
    # Only for loading historical events (tests, benchmarks); None means now.
    occurred_at: datetime | None = None

    @property
    def actor_id(self) -> str | None:
        sub = self.actor.get("sub")
        return sub if isinstance(sub, str) else None


@dataclass(frozen=True)
class AppendedEvent:
    seq: int
    chain: int
    occurred_at: datetime
    hash: bytes
