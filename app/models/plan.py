"""A child protection plan, looked-after episode or unborn-child plan."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        # A plan's identity (CONTRACT §3.2): sending it again updates it.
        UniqueConstraint("local_authority_code", "nhs_number", "plan_type", "start_date"),
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="nhs_number_shape"),
        CheckConstraint("plan_type IN ('CPP', 'LAC', 'UCPP')", name="plan_type"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
        Index("ix_plans_nhs_number", "nhs_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    local_authority_code: Mapped[str] = mapped_column(
        String(9), ForeignKey("local_authorities.code")
    )
    nhs_number: Mapped[str] = mapped_column(String(10))
    plan_type: Mapped[str] = mapped_column(String(4))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    delete_date: Mapped[date | None] = mapped_column(Date)
    local_id: Mapped[str | None] = mapped_column(Text)
    # Withdrawn by a snapshot upload: no longer visible, kept for history.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
