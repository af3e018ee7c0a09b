"""Harvest counts by organisation from the index alone; recent lookups made all-visible.

Revision ID: 20261128_08
Revises: 20261127_07
Create Date: 2026-11-28

Every lookup counts the distinct children its organisation looked up in the window. The
organisation was an expression over ``actor`` (jsonb), and PostgreSQL never answers a
query from an expression index alone, so each counted look cost a heap visit: about 1 ms
of database CPU per lookup for an organisation with 400 looks in the hour (make bench),
the largest single cost of a lookup. ``actor_org_code`` is the same value as a stored
generated column, computed by PostgreSQL from the hashed ``actor``, so it can never
disagree with it and needs nothing from the service on insert; the index on it, like the
per-user one, covers the count.

An index-only scan still visits the heap for pages not yet marked all-visible, and an
append-only table was vacuumed only after 20 % growth (2 M lookups on a 10 M-event
trail). Vacuuming after every 1,000 appended rows keeps all but the newest minute or so
of looks all-visible; such a vacuum reads only the pages appended since the last one.

Adding a stored column rewrites the table under an exclusive lock: plan for it on a
large trail (README, "Upgrading"). Reversible.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261128_08"
down_revision: str | None = "20261127_07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE audit_events ADD COLUMN actor_org_code text"
        " GENERATED ALWAYS AS (actor ->> 'org_code') STORED"
    )
    op.execute("DROP INDEX ix_audit_events_lookups_by_org")
    op.execute(
        "CREATE INDEX ix_audit_events_lookups_by_org ON audit_events"
        " (actor_org_code, occurred_at) INCLUDE (subject_nhs_number) WHERE kind = 'lookup'"
    )
    op.execute(
        "ALTER TABLE audit_events SET (autovacuum_vacuum_insert_threshold = 1000,"
        " autovacuum_vacuum_insert_scale_factor = 0)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE audit_events RESET (autovacuum_vacuum_insert_threshold,"
        " autovacuum_vacuum_insert_scale_factor)"
    )
    op.execute("DROP INDEX ix_audit_events_lookups_by_org")
    op.execute("ALTER TABLE audit_events DROP COLUMN actor_org_code")
    op.execute(
        "CREATE INDEX ix_audit_events_lookups_by_org ON audit_events"
        " ((actor ->> 'org_code'), occurred_at) INCLUDE (subject_nhs_number)"
        " WHERE kind = 'lookup'"
    )
