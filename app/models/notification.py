"""Notifications to a local authority (access, inactive-nhs-number, attendance-pattern)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_authority_seq", "local_authority_code", "seq"),
        Index("ix_notifications_feed", "local_authority_code", "xact_id", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Creation order, used by the feed's keyset cursor.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    local_authority_code: Mapped[str] = mapped_column(
        String(9), ForeignKey("local_authorities.code")
    )
    type: Mapped[str] = mapped_column(Text)
    nhs_number: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The inserting transaction (xid8 as bigint): the feed's commit-safe order.
    xact_id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text::bigint)")
    )
    # The type's own fields (CONTRACT §3.3), exactly as served and delivered.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
