"""A child's access history read from its index alone.

Revision ID: 20261128_09
Revises: 20261128_08
Create Date: 2026-11-28

A lookup of a flagged child lists the 25 most recent unscheduled looks at it, each
checked for a look by the same user in the 24 hours before (CONTRACT §3.1). The index
held only (NHS number, time), so every listed look cost a visit to its own heap page, and
a child's looks are scattered over the whole trail: on 10 M events that was about 25
random page reads per flagged lookup, most of them outside shared buffers, and the
lookup's main statement took about 4 ms against 0.6-0.8 ms on an empty trail
(pg_stat_statements, flagged lookups in a closed loop on make bench's dataset). The index
now carries what the history shows and what the 24-hour check compares, so a child's looks
are read from one or two adjacent index pages; ``seq`` joins the key as the order's
tie-break. The attendance-pattern check reads the same columns.

The index is about ten times larger (3.0 GB against 0.3 GB for 7.7 M looks): it holds
each look's actor record. Building it locks ``audit_events`` against writes while it
runs, 55 s on a 10 M-event trail (README, "Upgrading"). Reversible.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261128_09"
down_revision: str | None = "20261128_08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_audit_events_unscheduled_access")
    op.execute(
        "CREATE INDEX ix_audit_events_unscheduled_access ON audit_events"
        " (subject_nhs_number, occurred_at, seq) INCLUDE (actor_id, care_setting, actor)"
        " WHERE kind = 'lookup' AND unscheduled"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_events_unscheduled_access")
    op.execute(
        "CREATE INDEX ix_audit_events_unscheduled_access ON audit_events"
        " (subject_nhs_number, occurred_at) WHERE kind = 'lookup' AND unscheduled"
    )
