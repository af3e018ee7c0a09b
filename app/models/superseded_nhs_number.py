"""NHS numbers marked superseded (with their successor) or inactive (successor null)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SupersededNHSNumber(Base):
    __tablename__ = "superseded_nhs_numbers"
    __table_args__ = (
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="nhs_number_shape"),
        CheckConstraint(
            "superseded_by IS NULL OR (superseded_by ~ '^[0-9]{10}$'"
            " AND superseded_by <> nhs_number)",
            name="superseded_by_shape",
        ),
    )

    nhs_number: Mapped[str] = mapped_column(String(10), primary_key=True)
    superseded_by: Mapped[str | None] = mapped_column(String(10))
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    marked_by: Mapped[str] = mapped_column(Text)
