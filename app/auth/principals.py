"""Who is calling: a health user acting in one CIS2 role, or a service client with scopes.

Claims are validated strictly here because they flow into access decisions and audit rows:
anything malformed is 401 (the token is not usable), a well-formed health user without the
selected role is 403 (authenticated, but not acting in any role we can honour).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from app.errors import Forbidden, Unauthorized

ACTIVITY_VIEW_WITH_NOTIFICATION: Final = "B0107"
ACTIVITY_VIEW_WITHOUT_NOTIFICATION: Final = "B0170"

SCOPE_UPLOAD: Final = "cpis:upload"
SCOPE_NOTIFICATIONS: Final = "cpis:notifications"
SCOPE_HISTORY: Final = "cpis:history"
SCOPE_AUDIT: Final = "cpis:audit"
SCOPE_ADMIN: Final = "cpis:admin"
KNOWN_SCOPES: Final = frozenset(
    {SCOPE_UPLOAD, SCOPE_NOTIFICATIONS, SCOPE_HISTORY, SCOPE_AUDIT, SCOPE_ADMIN}
)
# These act for one local authority, so the token must say which.
LOCAL_AUTHORITY_SCOPES: Final = frozenset({SCOPE_UPLOAD, SCOPE_NOTIFICATIONS, SCOPE_HISTORY})

MAX_TEXT: Final = 200
MAX_SCOPE_TEXT: Final = 2000
MAX_LIST: Final = 50
_ORG_CODE: Final = re.compile(r"[A-Za-z0-9]{1,16}")


@dataclass(frozen=True, slots=True)
class HealthUser:
    sub: str
    name: str
    role_id: str
    role_name: str | None
    role_code: str
    org_code: str
    org_name: str | None
    activities: frozenset[str]

    @property
    def can_notify(self) -> bool:
        return ACTIVITY_VIEW_WITH_NOTIFICATION in self.activities

    @property
    def can_view(self) -> bool:
        return bool(
            {ACTIVITY_VIEW_WITH_NOTIFICATION, ACTIVITY_VIEW_WITHOUT_NOTIFICATION} & self.activities
        )


@dataclass(frozen=True, slots=True)
class ServiceClient:
    sub: str
    org_code: str | None
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes


Principal = HealthUser | ServiceClient


def _malformed(what: str) -> NoReturn:
    raise Unauthorized(f"token {what} malformed")


def _text(value: object, what: str, *, limit: int = MAX_TEXT) -> str:
    """A non-empty bounded string without control characters (they would forge log lines)."""
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        _malformed(what)
    return value


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _org_code(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ORG_CODE.fullmatch(value):
        _malformed(what)
    return value


@dataclass(frozen=True, slots=True)
class _Role:
    role_id: str
    role_name: str | None
    role_code: str
    org_code: str
    org_name: str | None
    activities: frozenset[str]


def _role_entry(entry: object) -> _Role:
    if not isinstance(entry, Mapping):
        _malformed("role")
    codes = entry.get("activity_codes", [])
    if not isinstance(codes, list) or len(codes) > MAX_LIST:
        _malformed("role activity codes")
    return _Role(
        role_id=_text(entry.get("person_roleid"), "role id"),
        role_name=_optional_text(entry.get("role_name"), "role name"),
        role_code=_text(entry.get("role_code"), "role code"),
        org_code=_org_code(entry.get("org_code"), "role organisation"),
        org_name=_optional_text(entry.get("org_name"), "role organisation name"),
        activities=frozenset(_text(c, "role activity code") for c in codes),
    )


def _health_user(claims: Mapping[str, Any]) -> HealthUser:
    sub = _text(claims.get("sub"), "subject")
    name = _text(claims.get("name"), "name")
    selected = _text(claims.get("selected_roleid"), "selected role")
    roles = claims.get("nhsid_nrbac_roles")
    if not isinstance(roles, list) or len(roles) > MAX_LIST:
        _malformed("roles")
    # Every entry is validated, not just the selected one: a malformed list is a bad token.
    matching = [r for r in map(_role_entry, roles) if r.role_id == selected]
    if len(matching) > 1:
        _malformed("roles")  # the selected role id must identify exactly one role
    if not matching:
        raise Forbidden("the selected role is not one of the user's roles")
    role = matching[0]
    return HealthUser(
        sub=sub,
        name=name,
        role_id=role.role_id,
        role_name=role.role_name,
        role_code=role.role_code,
        org_code=role.org_code,
        org_name=role.org_name,
        activities=role.activities,
    )


def _service_client(claims: Mapping[str, Any]) -> ServiceClient:
    sub = _text(claims.get("sub"), "subject")
    scope_text = _text(claims.get("scope"), "scope", limit=MAX_SCOPE_TEXT)
    # Unknown scopes (openid, other services' scopes) are ignored, not refused.
    scopes = frozenset(scope_text.split(" ")) & KNOWN_SCOPES
    raw_org = claims.get("org_code")
    org_code = None if raw_org is None else _org_code(raw_org, "organisation")
    if org_code is None and scopes & LOCAL_AUTHORITY_SCOPES:
        raise Unauthorized("local-authority token needs an organisation code")
    return ServiceClient(sub=sub, org_code=org_code, scopes=scopes)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The caller described by verified claims; Unauthorized if malformed, Forbidden if no role."""
    if "selected_roleid" in claims:
        return _health_user(claims)
    if "scope" in claims:
        return _service_client(claims)
    raise Unauthorized("token carries no recognised identity")


def actor_of(p: Principal) -> dict[str, str | None]:
    """A JSON-safe actor record for audit rows."""
    if isinstance(p, HealthUser):
        return {
            "type": "health-user",
            "sub": p.sub,
            "name": p.name,
            "role_id": p.role_id,
            "role_name": p.role_name,
            "role_code": p.role_code,
            "org_code": p.org_code,
            "org_name": p.org_name,
        }
    return {
        "type": "service",
        "sub": p.sub,
        "org_code": p.org_code,
        "scopes": " ".join(sorted(p.scopes)),
    }
