"""Attendance-pattern alerts already sent (see app/patterns/service.py)."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class AttendanceAlert(Base):
    __tablename__ = "attendance_alerts"
    __table_args__ = (
        # The newest attendance behind an alert identifies it: firing twice on it is a bug.
        UniqueConstraint(
            "nhs_number",
            "local_authority_code",
            "rule",
            "last_attended_at",
            name="uq_attendance_alerts_alert",
        ),
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="nhs_number_shape"),
        CheckConstraint("first_attended_at <= last_attended_at", name="window_order"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    nhs_number: Mapped[str] = mapped_column(String(10))
    local_authority_code: Mapped[str] = mapped_column(
        String(9), ForeignKey("local_authorities.code")
    )
    rule: Mapped[str] = mapped_column(Text)
    window_days: Mapped[int] = mapped_column(Integer)
    first_attended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_attended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attendances: Mapped[int] = mapped_column(Integer)
    notification_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
