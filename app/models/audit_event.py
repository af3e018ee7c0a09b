"""The append-only, hash-chained audit trail (see app/audit/chain.py)."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        # Every look at one child, in time order (migration 20261128_10): the lookup's
        # history, its 24-hour checks and the attendance-pattern looks read it alone; the
        # access-history search reads it newest first, visiting the heap for request_id.
        Index(
            "ix_audit_events_lookups_by_subject",
            "subject_nhs_number",
            "occurred_at",
            "seq",
            postgresql_include=["unscheduled", "actor_id", "care_setting", "actor"],
            postgresql_where="kind = 'lookup'",
        ),
        Index("ix_audit_events_kind_seq", "kind", "seq"),
        # Harvest detection (app/abuse): distinct children per user / organisation per window.
        Index(
            "ix_audit_events_lookups_by_actor",
            "actor_id",
            "occurred_at",
            postgresql_include=["subject_nhs_number"],
            postgresql_where="kind = 'lookup'",
        ),
        Index(
            "ix_audit_events_lookups_by_org",
            "actor_org_code",
            "occurred_at",
            postgresql_include=["subject_nhs_number"],
            postgresql_where="kind = 'lookup'",
        ),
    )

    # seq comes from audit_events_seq, drawn only while the chain head is locked.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    subject_nhs_number: Mapped[str | None] = mapped_column(String(10))
    unscheduled: Mapped[bool | None] = mapped_column(Boolean)
    care_setting: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    # Derived by PostgreSQL from the hashed actor, so outside the hash and never written:
    # it lets the per-organisation harvest count be answered from its index alone.
    actor_org_code: Mapped[str | None] = mapped_column(
        Text, Computed("actor ->> 'org_code'", persisted=True)
    )


class AuditChainHead(Base):
    """The newest event of each chain; its row lock serialises appends to that chain only."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
