"""The notification feed: at-least-once, in a commit-safe order, with a keyset cursor.

Why not ``seq > after``: ``seq`` is drawn when a row is inserted, but the row only
becomes readable when its transaction commits. A lookup that drew seq 10 and
commits after another that drew seq 11 would appear *behind* a cursor already at
11, and a consumer would never see it.

So each row records its inserting transaction id (``xact_id``), the feed serves only
rows whose transaction is older than the oldest transaction still running
(``pg_snapshot_xmin``), and the cursor is the pair ``(xact_id, seq)``. Every
transaction that can still commit a notification has an id at or above that
horizon, hence above every cursor handed out: nothing can appear behind one.

The cost: a notification shows up only once every transaction that started before
its own has finished (milliseconds normally; at most the database's
``idle_in_transaction_session_timeout`` or statement timeout behind a stuck one).
The order is the order in which the inserting transactions started, which for
notifications is creation order in all but the closest races.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.notify import repository
from app.notify.schemas import NotificationItem
from app.pagination import Page, decode_int_cursor, encode_cursor

START = (0, 0)


def item_of(row: Row[Any], *, with_cursor: bool = True) -> NotificationItem:
    """The feed item (and, without its cursor, the webhook body) of a notification row."""
    fields = {**row.payload}
    fields.update(
        id=row.id,
        type=row.type,
        created_at=row.created_at,
        nhs_number=row.nhs_number,
        cursor=encode_cursor(row.xact_id, row.seq) if with_cursor else None,
    )
    return NotificationItem.model_validate(fields)


async def read_feed(
    session: AsyncSession, local_authority: str, *, after: str | None, limit: int
) -> Page[NotificationItem]:
    """The authority's notifications after cursor ``after``, oldest first.

    ``next_cursor`` is null when nothing more is available *now*; consumers keep
    polling with the ``cursor`` of the last item they processed.
    """
    position = START if after is None else decode_int_cursor(after, 2)
    rows = await repository.feed_page(
        session, local_authority, after=(position[0], position[1]), limit=limit + 1
    )
    items = [item_of(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page[NotificationItem](items=items, next_cursor=items[-1].cursor if more else None)
