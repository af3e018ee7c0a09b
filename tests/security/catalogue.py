"""Who may call what: the principals every security test runs as, and one policy per route.

POLICY is the single list the authorisation matrix, the input-limit tests and the fuzzer
read. It lives here, apart from the routes, on purpose: it is a second, independent
statement of the rules, written by whoever reviews the route, and a route missing from it
fails ``test_every_route_has_a_policy`` (so a new route cannot slip in unreviewed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.routing import iter_route_contexts

from app.auth import dev_tokens
from app.auth.principals import SCOPE_HISTORY, SCOPE_NOTIFICATIONS, SCOPE_UPLOAD
from app.config import Settings
from app.db.session import DatabaseURLs
from app.main import create_app
from tests.conftest import Tokens
from tests.support import CAMDEN, CHILD_A, CHILD_B, CHILD_C, LEEDS

CLINICIAN_B0107 = "clinician-b0107"
CLINICIAN_B0170 = "clinician-b0170"
CLINICIAN_NO_ACTIVITY = "clinician-no-activity"
AUTHORITY_A = "authority-a"
AUTHORITY_B = "authority-b"
AUDITOR = "auditor"
ADMIN = "admin"
ANONYMOUS = "no-token"
PRINCIPALS = (
    CLINICIAN_B0107,
    CLINICIAN_B0170,
    CLINICIAN_NO_ACTIVITY,
    AUTHORITY_A,
    AUTHORITY_B,
    AUDITOR,
    ADMIN,
    ANONYMOUS,
)
EVERYONE = frozenset(PRINCIPALS)
CLINICIANS_WHO_VIEW = frozenset({CLINICIAN_B0107, CLINICIAN_B0170})

LA_SCOPES = (SCOPE_UPLOAD, SCOPE_NOTIFICATIONS, SCOPE_HISTORY)


def token_for(tokens: Tokens, principal: str) -> str | None:
    """A development token for ``principal``; None for the caller without one."""
    minted = {
        CLINICIAN_B0107: lambda: tokens.clinician(("B0107",), sub="matrix-b0107"),
        CLINICIAN_B0170: lambda: tokens.clinician(("B0170",), sub="matrix-b0170"),
        CLINICIAN_NO_ACTIVITY: lambda: tokens.clinician((), sub="matrix-none"),
        AUTHORITY_A: lambda: tokens.mint(dev_tokens.la_claims(org=CAMDEN, scopes=LA_SCOPES)),
        AUTHORITY_B: lambda: tokens.mint(dev_tokens.la_claims(org=LEEDS, scopes=LA_SCOPES)),
        AUDITOR: tokens.auditor,
        ADMIN: tokens.admin,
    }
    return None if principal == ANONYMOUS else minted[principal]()


@dataclass(frozen=True)
class Policy:
    """The principals a route admits, and a well-formed request to send it."""

    allowed: frozenset[str]
    # What an admitted principal gets for that request (``status_for`` overrides per principal).
    status: int = 200
    status_for: dict[str, int] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    # Text fields of ``json`` that hostile-text tests may poison (every string field).
    text_fields: tuple[str, ...] = ()

    def expected(self, principal: str) -> int:
        return self.status_for.get(principal, self.status)


PUBLIC = Policy(allowed=EVERYONE)
LOOKUP_BODY = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
AUTHORITIES = frozenset({AUTHORITY_A, AUTHORITY_B})
FHIR_NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_SEARCH = {"patient:identifier": f"{FHIR_NHS_NUMBER}|{CHILD_A}"}
# A well-formed id no authority holds: admitted callers get the same 404 as for another's.
NO_SUCH_UPLOAD = "6f1c2a52-8f4e-4f7a-9d7e-2b0c5d1e9a10"
UPLOAD_RECORD = {
    "nhs_number": CHILD_A,
    "plan_type": "LAC",
    "start_date": "2026-02-01",
    "end_date": None,
    "delete_date": None,
    "local_id": "CASE-1",
}
DIRECTORY_ENTRY = {
    "name": "Leeds",
    "office_hours_phone": "0113 222 4401",
    "emergency_duty_phone": "0113 240 9536",
    "webhook_url": "https://leeds.example.org/cpis",
    "webhook_secret": "a-long-enough-webhook-secret",
}

POLICY: dict[tuple[str, str], Policy] = {
    ("POST", "/v1/lookups"): Policy(
        allowed=CLINICIANS_WHO_VIEW,
        json=LOOKUP_BODY,
        text_fields=("nhs_number", "care_setting"),
    ),
    # CONTRACT §3.2: uploads act for the token's own authority (scope cpis:upload).
    ("POST", "/v1/uploads"): Policy(
        allowed=AUTHORITIES,
        status=201,
        params={"sequence": "1"},
        json={"records": [UPLOAD_RECORD]},
        # Upload records are checked row by row, not by the JSON guard: see test_upload_limits.
    ),
    ("GET", "/v1/uploads"): Policy(allowed=AUTHORITIES, params={"limit": "5"}),
    ("GET", "/v1/uploads/{upload_id}"): Policy(
        allowed=AUTHORITIES, status=404, path_params={"upload_id": NO_SUCH_UPLOAD}
    ),
    # CONTRACT §3.3: each authority's own feed (scope cpis:notifications).
    ("GET", "/v1/notifications"): Policy(allowed=AUTHORITIES, params={"limit": "5"}),
    # CONTRACT §3.4: authorities for children they hold (Camden holds CHILD_A, Leeds does
    # not: 404, as for an unknown child), auditors for any child.
    ("POST", "/v1/access-history/search"): Policy(
        allowed=AUTHORITIES | {AUDITOR},
        status_for={AUTHORITY_B: 404},
        json={"nhs_number": CHILD_A, "limit": 10},
        text_fields=("nhs_number", "since", "until", "cursor"),
    ),
    ("GET", "/v1/audit/events"): Policy(allowed=frozenset({AUDITOR}), params={"limit": "5"}),
    ("GET", "/v1/audit/verify"): Policy(allowed=frozenset({AUDITOR})),
    # CONTRACT §3.5: the directory, its webhooks and superseded numbers are for admins only.
    ("GET", "/v1/local-authorities"): Policy(allowed=frozenset({ADMIN}), params={"limit": "5"}),
    ("PUT", "/v1/local-authorities/{code}"): Policy(
        allowed=frozenset({ADMIN}),
        path_params={"code": LEEDS},
        json=DIRECTORY_ENTRY,
        text_fields=tuple(DIRECTORY_ENTRY),
    ),
    ("GET", "/v1/local-authorities/{code}/deliveries"): Policy(
        allowed=frozenset({ADMIN}), path_params={"code": CAMDEN}
    ),
    ("POST", "/v1/nhs-numbers/supersede"): Policy(
        allowed=frozenset({ADMIN}),
        json={"nhs_number": CHILD_B, "superseded_by": CHILD_C},
        text_fields=("nhs_number", "superseded_by"),
    ),
    # CONTRACT §4: the FHIR searches are lookups and history reads for health users.
    ("GET", "/fhir/R4/CareTeam"): Policy(allowed=CLINICIANS_WHO_VIEW, params=FHIR_SEARCH),
    ("GET", "/fhir/R4/AuditEvent"): Policy(allowed=CLINICIANS_WHO_VIEW, params=FHIR_SEARCH),
    ("GET", "/fhir/R4/metadata"): PUBLIC,
    # CONTRACT §2: operations and documentation need no token.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("HEAD", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("HEAD", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("HEAD", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("HEAD", "/redoc"): PUBLIC,
}


def route_table() -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, read from its route table."""
    urls = DatabaseURLs(owner="postgresql://unused/x", service="postgresql://unused/x")
    app = create_app(Settings(_env_file=None), urls)  # type: ignore[call-arg]
    found = set()
    # app.routes holds included routers unexpanded; this flattens them like the router does.
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            found.add((method, route.path or ""))
    return sorted(found)


def url_of(path: str, policy: Policy) -> str:
    return path.format(**policy.path_params)
