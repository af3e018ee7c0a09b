"""Webhook signatures: HMAC-SHA256 of the exact body bytes with the authority's secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CPIS-Signature"
NOTIFICATION_ID_HEADER = "X-CPIS-Notification-Id"


def signature(secret: str, body: bytes) -> str:
    """The ``X-CPIS-Signature`` value: ``sha256=<lowercase hex>``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def is_valid(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of a received signature (what a receiver should do)."""
    return hmac.compare_digest(signature(secret, body), header)


def webhook_headers(notification_id: str, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        NOTIFICATION_ID_HEADER: notification_id,
        SIGNATURE_HEADER: signature(secret, body),
    }
