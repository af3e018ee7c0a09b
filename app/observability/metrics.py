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
    "Lookups (POST /v1/lookups and FHIR CareTeam searches) by outcome: flagged, "
    "not-flagged, invalid, unauthenticated, denied, rate-limited, unavailable, error.",
    ["outcome"],
    registry=REGISTRY,
)
LOOKUP_ROUTES = frozenset({"/v1/lookups", "/fhir/R4/CareTeam"})
# A lookup answered 200 is flagged or not-flagged, as its endpoint found; any other status
# is a refusal or a failure.
_LOOKUP_REFUSALS = {401: "unauthenticated", 403: "denied", 429: "rate-limited", 503: "unavailable"}
# Every outcome is exported from the start (at 0), not only once it has happened.
_LOOKUP_OUTCOMES = {
    outcome: LOOKUPS.labels(outcome)
    for outcome in ("flagged", "not-flagged", "invalid", *_LOOKUP_REFUSALS.values(), "error")
}
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


def count_lookup(status: int, answered: str | None) -> None:
    """One request to a lookup route: ``answered`` is what its endpoint found (flagged or
    not-flagged), None when it answered nothing."""
    if status == 200 and answered is not None:
        outcome = answered
    else:
        outcome = _LOOKUP_REFUSALS.get(status, "invalid" if 400 <= status < 500 else "error")
    _LOOKUP_OUTCOMES[outcome].inc()
