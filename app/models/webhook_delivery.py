"""Webhook delivery state: one row per notification for an authority with a webhook."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failing')", name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state <> 'delivered'"),
        ),
        Index("ix_webhook_deliveries_authority_seq", "local_authority_code", "notification_seq"),
    )

    notification_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    notification_seq: Mapped[int] = mapped_column(BigInteger)
    local_authority_code: Mapped[str] = mapped_column(
        String(9), ForeignKey("local_authorities.code")
    )
    # pending (not yet attempted, or in flight) -> delivered, or failing between retries.
    state: Mapped[str] = mapped_column(Text, server_default="pending")
    # Attempts started; a claim counts one even if the process dies mid-attempt.
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # Also the claim's lease: a claimed row is pushed into the future until its result.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
