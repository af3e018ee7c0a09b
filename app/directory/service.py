"""Directory administration: authorities, webhook settings, delivery state, superseded numbers.

Every change is written to the audit trail as ``admin-change``; the detail names the
fields changed and never carries the webhook secret or an NHS number (the number of
a supersede is the event's ``subject_nhs_number``, as for lookups).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import ServiceClient, actor_of
from app.config import Settings
from app.directory import repository
from app.directory.schemas import (
    LocalAuthorityUpdate,
    LocalAuthorityView,
    SupersedeRequest,
    SupersedeResult,
)
from app.errors import InvalidRequest, NotFound
from app.notify import repository as notify_repository
from app.notify import service as notify
from app.notify.schemas import DeliveryState, DeliveryView
from app.pagination import Page, decode_int_cursor, decode_text_cursor, encode_cursor

_EDITABLE = ("name", "office_hours_phone", "emergency_duty_phone", "webhook_url")
_NEWEST = 2**63 - 1


async def list_local_authorities(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> Page[LocalAuthorityView]:
    """The directory in code order."""
    after = "" if cursor is None else decode_text_cursor(cursor)
    rows = await repository.list_authorities(session, after=after, limit=limit + 1)
    items = [LocalAuthorityView.model_validate(row._asdict()) for row in rows[:limit]]
    more = len(rows) > limit
    return Page[LocalAuthorityView](
        items=items, next_cursor=encode_cursor(items[-1].code) if more else None
    )


def check_webhook_url(url: str, settings: Settings) -> None:
    """Production accepts https only, and never a loopback address."""
    if settings.env != "production":
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https":
        raise InvalidRequest("webhook_url must use https in production")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    if loopback:
        raise InvalidRequest("webhook_url must not point at loopback in production")


async def update_local_authority(
    session: AsyncSession,
    admin: ServiceClient,
    code: str,
    update: LocalAuthorityUpdate,
    *,
    settings: Settings,
    request_id: str | None,
) -> LocalAuthorityView:
    """Replace an authority's editable entry; audited with the names of changed fields."""
    current = await repository.get_authority(session, code, for_update=True)
    if current is None:
        raise NotFound("no such local authority")
    secret = current.webhook_secret if update.keeps_secret else update.webhook_secret
    if update.webhook_url is not None:
        check_webhook_url(update.webhook_url, settings)
        if secret is None:
            raise InvalidRequest("a webhook_url needs a webhook_secret to sign deliveries with")
    fields = {name: getattr(update, name) for name in _EDITABLE}
    row = await repository.update_authority(session, code, {**fields, "webhook_secret": secret})
    changed = [name for name in _EDITABLE if getattr(current, name) != fields[name]]
    if secret != current.webhook_secret:
        changed.append("webhook_secret")
    await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.ADMIN_CHANGE,
            actor=actor_of(admin),
            request_id=request_id,
            detail={
                "action": "update-local-authority",
                "local_authority": code,
                "changed": changed,
            },
        ),
    )
    return LocalAuthorityView.model_validate(row._asdict())


async def list_deliveries(
    session: AsyncSession,
    code: str,
    *,
    state: DeliveryState | None,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryView]:
    """Webhook delivery state of one authority's notifications, newest first."""
    if await repository.get_authority(session, code) is None:
        raise NotFound("no such local authority")
    before = _NEWEST if cursor is None else decode_int_cursor(cursor, 1)[0]
    rows = await notify_repository.deliveries(
        session, code, state=state, before=before, limit=limit + 1
    )
    items = [DeliveryView.model_validate(row._asdict()) for row in rows[:limit]]
    more = len(rows) > limit
    next_cursor = encode_cursor(rows[limit - 1].notification_seq) if more else None
    return Page[DeliveryView](items=items, next_cursor=next_cursor)


async def supersede_nhs_number(
    session: AsyncSession,
    admin: ServiceClient,
    request: SupersedeRequest,
    *,
    request_id: str | None,
) -> SupersedeResult:
    """Mark a number superseded (or inactive) and tell every authority holding a plan for it.

    Marking it again with the same successor is a no-op that notifies no one twice.
    """
    marked_at, changed = await repository.mark_superseded(
        session, request.nhs_number, request.superseded_by, marked_by=admin.sub
    )
    notified: list[str] = []
    if changed:
        notified = await notify.notify_inactive_nhs_number(
            session, nhs_number=request.nhs_number, superseded_by=request.superseded_by
        )
    await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.ADMIN_CHANGE,
            actor=actor_of(admin),
            request_id=request_id,
            subject_nhs_number=request.nhs_number,
            detail={
                "action": "supersede-nhs-number",
                "changed": changed,
                "successor_given": request.superseded_by is not None,
                "authorities_notified": len(notified),
            },
        ),
    )
    return SupersedeResult(
        nhs_number=request.nhs_number, superseded_by=request.superseded_by, marked_at=marked_at
    )
