"""Notifications to a local authority (access, inactive-nhs-number, attendance-pattern)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_authority_seq", "local_authority_code", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Creation order, used by the feed's keyset cursor.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    local_authority_code: Mapped[str] = mapped_column(
        String(9), ForeignKey("local_authorities.code")
    )
    type: Mapped[str] = mapped_column(Text)
    nhs_number: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The type's own fields (CONTRACT §3.3), exactly as served and delivered.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
