"""Notification ids: time-ordered (UUIDv7, RFC 9562), not random.

Every unscheduled look at a flagged child inserts notifications, and the table is never
emptied. A random id lands in a random leaf of the primary key: on a long-lived table
that leaf is cold, and the first write to it after each checkpoint logs a full page:
0.13 full-page images per lookup, in pg_waldump's reading of a closed-loop window of
``make bench``'s lookups on the full trail. Ids drawn in time order land together in
the newest leaf. The id tells nothing that a notification's ``created_at`` does not.
"""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def notification_id() -> uuid.UUID:
    # A plain UUID: the library's subclass is not one orjson will encode.
    return uuid.UUID(int=uuid7().int)
