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
from tests.support import CAMDEN, CHILD_A, LEEDS

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
    json: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    # Text fields of ``json`` that hostile-text tests may poison (every string field).
    text_fields: tuple[str, ...] = ()


PUBLIC = Policy(allowed=EVERYONE)
LOOKUP_BODY = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}

POLICY: dict[tuple[str, str], Policy] = {
    ("POST", "/v1/lookups"): Policy(
        allowed=CLINICIANS_WHO_VIEW,
        json=LOOKUP_BODY,
        text_fields=("nhs_number", "care_setting"),
    ),
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
