"""Uploads: one row per accepted local-authority file, with its acknowledgement.

Revision ID: 20261127_03
Revises: 20261127_01
Create Date: 2026-11-27

Reversible: downgrade drops the table (and with it the record of which sequence
numbers each authority has used, so replays would no longer be recognised).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "20261127_03"
down_revision: str | None = "20261127_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "local_authority_code",
            sa.String(9),
            sa.ForeignKey("local_authorities.code"),
            nullable=False,
        ),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.LargeBinary, nullable=False),
        sa.Column("acknowledgement", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        # Idempotency and ordering: one file per (authority, sequence); also the list's keyset.
        sa.UniqueConstraint("local_authority_code", "sequence"),
        sa.CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        sa.CheckConstraint("mode IN ('delta', 'snapshot')", name="mode"),
        sa.CheckConstraint("octet_length(content_sha256) = 32", name="sha256_length"),
    )
    # Acknowledgements are records of what happened: the service may add them, never change them.
    op.execute("REVOKE ALL ON uploads FROM PUBLIC")
    op.execute("GRANT SELECT, INSERT ON uploads TO cpis_app")


def downgrade() -> None:
    op.drop_table("uploads")
