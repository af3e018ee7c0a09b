"""The directory of England's children's-services authorities (GSS codes)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class LocalAuthority(Base):
    __tablename__ = "local_authorities"
    __table_args__ = (CheckConstraint("code ~ '^E[0-9]{8}$'", name="gss_code"),)

    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    authority_type: Mapped[str] = mapped_column(Text)
    office_hours_phone: Mapped[str | None] = mapped_column(Text)
    emergency_duty_phone: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
