"""Every look at a child in one index: the lookup's history and the access-history search.

Revision ID: 20261128_10
Revises: 20261128_09
Create Date: 2026-11-28

Two indexes were keyed by the child: ``ix_audit_events_unscheduled_access`` (unscheduled
looks, for the lookup's history) and ``ix_audit_events_subject_seq`` (every event with a
subject, for the access-history search). A child's looks are scattered over the trail, so
each lookup wrote into a cold, random leaf of both, and after every checkpoint each such
leaf's first change logs a whole page. On make bench's 10 M-event trail that was 1.4
full-page images per lookup in the first minute after a checkpoint, against 0.8 with one
of the two dropped (and 0.04 on an empty trail): a cost the empty trail does not have (L3).

``ix_audit_events_lookups_by_subject`` replaces both: every look at a child (scheduled
too, with ``unscheduled`` carried), in time order. The lookup's history, its 24-hour
checks and the attendance-pattern looks read it alone, as before, filtering on
``unscheduled``; the access-history search reads it newest first on the same key, and
visits the heap only for ``request_id``. No query reads events other than looks by child.

Building it locks ``audit_events`` against writes while it runs (about a minute on a
10 M-event trail; README, "Upgrading"). Reversible.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261128_10"
down_revision: str | None = "20261128_09"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_audit_events_lookups_by_subject ON audit_events"
        " (subject_nhs_number, occurred_at, seq)"
        " INCLUDE (unscheduled, actor_id, care_setting, actor) WHERE kind = 'lookup'"
    )
    op.execute("DROP INDEX ix_audit_events_unscheduled_access")
    op.execute("DROP INDEX ix_audit_events_subject_seq")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX ix_audit_events_subject_seq ON audit_events (subject_nhs_number, seq)"
        " WHERE subject_nhs_number IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX ix_audit_events_unscheduled_access ON audit_events"
        " (subject_nhs_number, occurred_at, seq) INCLUDE (actor_id, care_setting, actor)"
        " WHERE kind = 'lookup' AND unscheduled"
    )
    op.execute("DROP INDEX ix_audit_events_lookups_by_subject")
