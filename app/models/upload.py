"""One accepted local-authority upload and the acknowledgement it was answered with."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (
        # Idempotency and ordering (CONTRACT §3.2); also the keyset of GET /v1/uploads.
        UniqueConstraint("local_authority_code", "sequence"),
        CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        CheckConstraint("mode IN ('delta', 'snapshot')", name="mode"),
        CheckConstraint("octet_length(content_sha256) = 32", name="sha256_length"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    local_authority_code: Mapped[str] = mapped_column(
        String(9), ForeignKey("local_authorities.code")
    )
    sequence: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(Text)
    # sha256 of the raw request body: a replay must be byte-for-byte the same file.
    content_sha256: Mapped[bytes] = mapped_column(LargeBinary)
    # Returned verbatim (as JSON) on a replay and by GET /v1/uploads/{id}.
    acknowledgement: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
