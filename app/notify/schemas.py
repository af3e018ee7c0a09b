"""What a notification looks like on the feed and in a webhook body (CONTRACT §3.3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NotificationType = Literal["access", "inactive-nhs-number", "attendance-pattern"]
DeliveryState = Literal["pending", "delivered", "failing"]


class NotificationItem(BaseModel):
    """One notification: the common fields plus its type's own (absent types are null)."""

    # Types added later carry their own fields through unchanged.
    model_config = ConfigDict(extra="allow")

    id: uuid.UUID = Field(description="Stable across redeliveries: de-duplicate on it.")
    cursor: str | None = Field(
        default=None, description="Pass as `after` to read what follows this item."
    )
    type: NotificationType
    created_at: datetime
    nhs_number: str | None = None
    plan_types: list[str] | None = None
    accessed_at: datetime | None = None
    user_name: str | None = None
    role_name: str | None = None
    org_code: str | None = None
    org_name: str | None = None
    care_setting: str | None = None
    superseded_by: str | None = None
    rule: str | None = None
    window_days: int | None = None
    attendances: list[dict[str, Any]] | None = None


class DeliveryView(BaseModel):
    """Webhook delivery state of one notification, for administrators."""

    notification_id: uuid.UUID
    type: str
    created_at: datetime
    state: DeliveryState
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due (null once delivered)."
    )
    delivered_at: datetime | None
