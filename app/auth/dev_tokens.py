"""Mint tokens with the development key, for local use and tests. Never used in production.

The claim helpers produce the same shapes the real identity providers issue (CIS2 for health
users, client-credentials tokens for local authorities and internal services).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

from jose import jwt  # type: ignore[import-untyped,unused-ignore]

from app.auth.keys import ES256, DevKey
from app.auth.principals import (
    ACTIVITY_VIEW_WITH_NOTIFICATION,
    SCOPE_ADMIN,
    SCOPE_AUDIT,
    SCOPE_HISTORY,
    SCOPE_NOTIFICATIONS,
    SCOPE_UPLOAD,
)

DEV_ROLE_ID = "555000000001"
DEV_ROLE_CODE = "S8000:G8000:R8000"
DEV_ROLE_NAME = "Clinical Practitioner"


def mint_token(
    key: DevKey,
    *,
    issuer: str,
    audience: str,
    claims: Mapping[str, Any],
    ttl_seconds: int = 3600,
) -> str:
    """An ES256 token; ``claims`` override the defaults, so tests can set exp/nbf/iss/aud."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
        **claims,
    }
    token = jwt.encode(payload, key.private_pem, algorithm=ES256, headers={"kid": key.kid})
    return cast(str, token)


def clinician_claims(
    org: str = "RJ122",
    activity: Iterable[str] = (ACTIVITY_VIEW_WITH_NOTIFICATION,),
    name: str = "Dr Ada Example",
    sub: str = "dev-clinician-0001",
) -> dict[str, Any]:
    return {
        "sub": sub,
        "name": name,
        "selected_roleid": DEV_ROLE_ID,
        "nhsid_nrbac_roles": [
            {
                "person_roleid": DEV_ROLE_ID,
                "org_code": org,
                "org_name": f"Development Emergency Department ({org})",
                "role_code": DEV_ROLE_CODE,
                "role_name": DEV_ROLE_NAME,
                "activity_codes": list(activity),
            }
        ],
    }


def la_claims(
    org: str = "E09000007",
    scopes: Iterable[str] = (SCOPE_UPLOAD, SCOPE_NOTIFICATIONS, SCOPE_HISTORY),
) -> dict[str, Any]:
    return {"sub": f"la-system-{org}", "org_code": org, "scope": " ".join(scopes)}


def auditor_claims() -> dict[str, Any]:
    return {"sub": "dev-auditor", "scope": SCOPE_AUDIT}


def admin_claims() -> dict[str, Any]:
    return {"sub": "dev-admin", "scope": SCOPE_ADMIN}
