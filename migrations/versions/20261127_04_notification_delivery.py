"""Notification feed cursor and webhook delivery state.

Revision ID: 20261127_04
Revises: 20261127_03
Create Date: 2026-11-27

``notifications.xact_id`` records the inserting transaction (``pg_current_xact_id()``
as bigint: an xid8 always fits) so the feed can serve only rows whose transaction has
finished and order by it; see app/notify/feed.py for why a plain seq cursor skips rows.

``webhook_deliveries`` holds one row per notification for an authority with a webhook,
written by a statement-level trigger so the lookup's insert stays one statement.

Reversible: downgrade drops the deliveries table, trigger and column (delivery state
is lost; notifications themselves are kept).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261127_04"
down_revision: str | None = "20261127_03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    "ALTER TABLE notifications ADD COLUMN xact_id bigint"
    " DEFAULT (pg_current_xact_id()::text::bigint)",
    # Rows written before this migration all belong to finished transactions.
    "UPDATE notifications SET xact_id = 0 WHERE xact_id IS NULL",
    "ALTER TABLE notifications ALTER COLUMN xact_id SET NOT NULL",
    "CREATE INDEX ix_notifications_feed ON notifications (local_authority_code, xact_id, seq)",
    """
    CREATE TABLE webhook_deliveries (
      notification_id uuid PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
      notification_seq bigint NOT NULL,
      local_authority_code varchar(9) NOT NULL REFERENCES local_authorities (code),
      state text NOT NULL DEFAULT 'pending',
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      last_attempt_at timestamptz,
      last_error text,
      delivered_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_webhook_deliveries_state
        CHECK (state IN ('pending', 'delivered', 'failing')),
      CONSTRAINT ck_webhook_deliveries_attempts CHECK (attempts >= 0)
    )
    """,
    # The dispatcher's claim: undelivered rows by due time.
    "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at)"
    " WHERE state <> 'delivered'",
    "CREATE INDEX ix_webhook_deliveries_authority_seq ON webhook_deliveries"
    " (local_authority_code, notification_seq)",
    # One INSERT for a whole statement's notifications; NOTIFY wakes the dispatchers
    # at commit (and never if the transaction rolls back).
    """
    CREATE FUNCTION webhook_deliveries_enqueue() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
      queued integer;
    BEGIN
      INSERT INTO webhook_deliveries
        (notification_id, notification_seq, local_authority_code, next_attempt_at)
      SELECT n.id, n.seq, n.local_authority_code, now()
      FROM new_notifications n
      JOIN local_authorities la ON la.code = n.local_authority_code
      WHERE la.webhook_url IS NOT NULL;
      GET DIAGNOSTICS queued = ROW_COUNT;
      IF queued > 0 THEN
        PERFORM pg_notify('cpis_webhook_deliveries', '');
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER notifications_enqueue_webhooks
      AFTER INSERT ON notifications
      REFERENCING NEW TABLE AS new_notifications
      FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_enqueue()
    """,
    "REVOKE ALL ON webhook_deliveries FROM PUBLIC",
    # No DELETE: delivery history is only removed with its notification.
    "GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO cpis_app",
)

DOWNGRADE = (
    "DROP TRIGGER notifications_enqueue_webhooks ON notifications",
    "DROP FUNCTION webhook_deliveries_enqueue()",
    "DROP TABLE webhook_deliveries",
    "DROP INDEX ix_notifications_feed",
    "ALTER TABLE notifications DROP COLUMN xact_id",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
