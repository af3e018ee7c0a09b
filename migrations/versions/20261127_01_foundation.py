"""Foundation: directory, plans, the append-only audit trail, notifications.

Revision ID: 20261127_01
Revises:
Create Date: 2026-11-27

Reversible: downgrade drops everything this created (the audit trail included,
which is why no one should ever downgrade a live database past this point).
"""

import csv
from collections.abc import Sequence
from importlib import resources

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "20261127_01"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_CHAINS = 16  # enough that concurrent lookups rarely wait for one another's commit


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _create_app_role() -> None:
    # The service connects as a member of cpis_app, which owns nothing and so can
    # neither disable the audit triggers nor alter tables.
    op.execute(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cpis_app') THEN
            CREATE ROLE cpis_app NOLOGIN;
          END IF;
        END $$;
        """
    )


def _create_tables() -> None:
    op.create_table(
        "local_authorities",
        sa.Column("code", sa.String(9), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("authority_type", sa.Text, nullable=False),
        sa.Column("office_hours_phone", sa.Text),
        sa.Column("emergency_duty_phone", sa.Text),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_secret", sa.Text),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("code ~ '^E[0-9]{8}$'", name="gss_code"),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "local_authority_code",
            sa.String(9),
            sa.ForeignKey("local_authorities.code"),
            nullable=False,
        ),
        sa.Column("nhs_number", sa.String(10), nullable=False),
        sa.Column("plan_type", sa.String(4), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date),
        sa.Column("delete_date", sa.Date),
        sa.Column("local_id", sa.Text),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.UniqueConstraint("local_authority_code", "nhs_number", "plan_type", "start_date"),
        sa.CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="nhs_number_shape"),
        sa.CheckConstraint("plan_type IN ('CPP', 'LAC', 'UCPP')", name="plan_type"),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
    )
    op.create_index("ix_plans_nhs_number", "plans", ["nhs_number"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column(
            "local_authority_code",
            sa.String(9),
            sa.ForeignKey("local_authorities.code"),
            nullable=False,
        ),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("nhs_number", sa.String(10)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("payload", JSONB, nullable=False),
    )
    op.create_index(
        "ix_notifications_authority_seq", "notifications", ["local_authority_code", "seq"]
    )
    op.create_table(
        "superseded_nhs_numbers",
        sa.Column("nhs_number", sa.String(10), primary_key=True),
        sa.Column("superseded_by", sa.String(10)),
        sa.Column(
            "marked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("marked_by", sa.Text, nullable=False),
        sa.CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="nhs_number_shape"),
        sa.CheckConstraint(
            "superseded_by IS NULL OR (superseded_by ~ '^[0-9]{10}$'"
            " AND superseded_by <> nhs_number)",
            name="superseded_by_shape",
        ),
    )


def _create_audit_trail() -> None:
    op.execute("CREATE SEQUENCE audit_events_seq AS bigint")
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("chain", sa.SmallInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Text),
        sa.Column("actor", JSONB, nullable=False),
        sa.Column("subject_nhs_number", sa.String(10)),
        sa.Column("unscheduled", sa.Boolean),
        sa.Column("care_setting", sa.Text),
        sa.Column("request_id", sa.Text),
        sa.Column("detail", JSONB, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ix_audit_events_unscheduled_access",
        "audit_events",
        ["subject_nhs_number", "occurred_at"],
        postgresql_where=sa.text("kind = 'lookup' AND unscheduled"),
    )
    op.create_index(
        "ix_audit_events_subject_seq",
        "audit_events",
        ["subject_nhs_number", "seq"],
        postgresql_where=sa.text("subject_nhs_number IS NOT NULL"),
    )
    op.create_index("ix_audit_events_kind_seq", "audit_events", ["kind", "seq"])
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger),
        sa.Column("last_hash", sa.LargeBinary),
    )
    op.execute(
        f"INSERT INTO audit_chain_heads (chain) SELECT generate_series(0, {AUDIT_CHAINS - 1})"
    )
    # Append-only, whoever asks: the owner too. Triggers fire for every role; the
    # application role also lacks the privileges (and ownership) to get round them.
    op.execute(
        """
        CREATE FUNCTION audit_events_reject_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_events_no_update_or_delete
          BEFORE UPDATE OR DELETE ON audit_events
          FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_events_no_truncate
          BEFORE TRUNCATE ON audit_events
          FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change()
        """
    )


def _grant_app_role() -> None:
    # One statement per call: asyncpg prepares each one.
    for statement in (
        "REVOKE ALL ON audit_events, audit_chain_heads, plans, local_authorities, notifications,"
        " superseded_nhs_numbers FROM PUBLIC",
        "GRANT SELECT, INSERT ON audit_events TO cpis_app",
        "GRANT SELECT, UPDATE ON audit_chain_heads TO cpis_app",
        "GRANT USAGE ON SEQUENCE audit_events_seq TO cpis_app",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON plans TO cpis_app",
        "GRANT SELECT, UPDATE ON local_authorities TO cpis_app",
        "GRANT SELECT, INSERT, UPDATE ON notifications TO cpis_app",
        "GRANT SELECT, INSERT, UPDATE ON superseded_nhs_numbers TO cpis_app",
        "GRANT SELECT ON alembic_version TO cpis_app",
    ):
        op.execute(statement)


def _seed_directory() -> None:
    source = resources.files("app.data").joinpath("local_authorities_england.csv")
    with source.open(encoding="utf-8", newline="") as f:
        rows = [
            {"code": r["code"], "name": r["name"], "authority_type": r["type"]}
            for r in csv.DictReader(f)
        ]
    table = sa.table(
        "local_authorities",
        sa.column("code", sa.String),
        sa.column("name", sa.Text),
        sa.column("authority_type", sa.Text),
    )
    op.bulk_insert(table, rows)


def upgrade() -> None:
    _create_app_role()
    _create_tables()
    _create_audit_trail()
    _grant_app_role()
    _seed_directory()


def downgrade() -> None:
    op.drop_table("audit_chain_heads")
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION audit_events_reject_change()")
    op.execute("DROP SEQUENCE audit_events_seq")
    op.drop_table("superseded_nhs_numbers")
    op.drop_table("notifications")
    op.drop_table("plans")
    op.drop_table("local_authorities")
