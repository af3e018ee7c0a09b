"""Every table of the service, one module each."""

from app.models.attendance_alert import AttendanceAlert
from app.models.audit_event import AuditChainHead, AuditEvent
from app.models.base import Base
from app.models.local_authority import LocalAuthority
from app.models.notification import Notification
from app.models.plan import Plan
from app.models.superseded_nhs_number import SupersededNHSNumber
from app.models.upload import Upload
from app.models.webhook_delivery import WebhookDelivery

__all__ = [
    "AttendanceAlert",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "LocalAuthority",
    "Notification",
    "Plan",
    "SupersededNHSNumber",
    "Upload",
    "WebhookDelivery",
]
