"""Prometheus metrics (CONTRACT §3.6). Labels never carry personal data."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "cpis_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "cpis_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
LOOKUPS = Counter(
    "cpis_lookups_total",
    "Lookups by outcome: flagged, not-flagged, denied, invalid, unavailable.",
    ["outcome"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter("cpis_auth_failures_total", "Requests refused with 401.", registry=REGISTRY)
UPLOAD_ROWS = Counter(
    "cpis_upload_rows_total", "Uploaded records by CP-IS row code.", ["code"], registry=REGISTRY
)
NOTIFICATION_BACKLOG = Gauge(
    "cpis_notification_delivery_backlog",
    "Webhook notifications not yet delivered.",
    registry=REGISTRY,
)
PLANS_PURGED = Counter(
    "cpis_plans_purged_total", "Plans deleted by retention (purge).", registry=REGISTRY
)
ATTENDANCE_PATTERN_ALERTS = Counter(
    "cpis_attendance_pattern_alerts_total",
    "Attendance-pattern alerts raised, by rule.",
    ["rule"],
    registry=REGISTRY,
)
HARVEST_REFUSALS = Counter(
    "cpis_harvest_refusals_total",
    "Lookups refused with 429 because a user or organisation passed its harvest limit.",
    ["limit"],
    registry=REGISTRY,
)
