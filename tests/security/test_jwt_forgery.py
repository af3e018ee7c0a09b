"""Forged and malformed tokens over HTTP, for a health user and for a service client.

The verifier's own suite (tests/auth/test_verifier.py) proves each rule on the function;
tests/api/test_authentication.py checks a first few over HTTP. This suite throws the whole
catalogue at real routes (``TARGETS``: add a route and every forgery runs against it) and
checks what an attacker would see: 401 (or 403 for a well-signed token whose role is not
the user's), never 5xx, never plan data, never a lookup in the audit trail.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth import dev_tokens
from app.auth.keys import DevKey
from tests.api.test_authentication import hs256_with_public_key, unsigned
from tests.auth.helpers import DROP, b64, b64_json, raw_token
from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, add_plan

# (method, path, json body): one route of each family that takes a bearer token (native
# for health users, native for service tokens, FHIR); they share one verifier, so a
# forgery refused on one is refused on all, but each family renders its 401 its own way.
TARGETS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/lookups", {"nhs_number": CHILD_A, "care_setting": "emergency-department"}),
    ("POST", "/v1/access-history/search", {"nhs_number": CHILD_A}),
    (
        "GET",
        "/fhir/R4/CareTeam?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|" + CHILD_A,
        None,
    ),
]
IDENTITIES: dict[str, Callable[[], dict[str, Any]]] = {
    "health-user": dev_tokens.clinician_claims,
    "service-client": dev_tokens.auditor_claims,
}


def _private(key: DevKey) -> ec.EllipticCurvePrivateKey:
    loaded = serialization.load_pem_private_key(key.private_pem, password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return loaded


def _public(key: DevKey, encoding: serialization.Encoding) -> bytes:
    return (
        _private(key)
        .public_key()
        .public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


class Forger:
    """Builds tokens around one identity's claims, signed however the attack needs."""

    def __init__(self, tokens: Tokens, identity: dict[str, Any]) -> None:
        self.key = tokens.key
        self.identity = identity
        self.settings = tokens.settings
        self.attacker = ec.generate_private_key(ec.SECP256R1())

    def claims(self, **override: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            **self.identity,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": now,
            "exp": now + 600,
        }
        base.update(override)
        return {k: v for k, v in base.items() if v is not DROP}

    def signed(self, payload: dict[str, Any] | str, key: Any = None, **header: Any) -> str:
        """ES256 with the real key (or ``key``), under exactly this header."""
        full = {"alg": "ES256", "typ": "JWT", "kid": self.key.kid, **header}
        full = {k: v for k, v in full.items() if v is not DROP}
        return raw_token(full, payload, key or _private(self.key))

    def hmac(self, alg: str, secret: bytes) -> str:
        return raw_token({"alg": alg, "typ": "JWT", "kid": self.key.kid}, self.claims(), secret)


def forgeries(f: Forger) -> dict[str, str]:
    good = f.signed(f.claims())
    header, payload, signature = good.split(".")
    flipped = base64.urlsafe_b64decode(signature + "==")
    flipped = bytes([flipped[0] ^ 1]) + flipped[1:]
    pem, der = (
        _public(f.key, serialization.Encoding.PEM),
        _public(f.key, serialization.Encoding.DER),
    )
    jwk = {"kty": "EC", "crv": "P-256", "kid": "attacker"}
    now = int(time.time())
    return {
        **{
            f"alg {a!r}": unsigned(f.key, f.claims(), alg=a)
            for a in ("none", "None", "NONE", "nOnE")
        },
        "alg none with a signature kept": f"{b64_json({'alg': 'none'})}.{payload}.{signature}",
        "HS256 keyed with the public key (DER)": hs256_with_public_key(f.key, f.claims()),
        "HS256 keyed with the public key (PEM)": f.hmac("HS256", pem),
        "HS384 keyed with the public key (PEM)": f.hmac("HS384", pem),
        "HS384 keyed with the public key (DER)": f.hmac("HS384", der),
        "RS256 claimed for an ES256 key": f"{b64_json({'alg': 'RS256', 'kid': f.key.kid})}"
        f".{payload}.{signature}",
        "tampered payload": f"{header}.{b64_json(f.claims(sub='someone-else'))}.{signature}",
        "tampered signature": f"{header}.{payload}.{b64(flipped)}",
        "signature stripped": f"{header}.{payload}.",
        "signed by another key under the real kid": f.signed(f.claims(), key=f.attacker),
        "unknown kid": f.signed(f.claims(), kid="no-such-key"),
        "kid missing": f.signed(f.claims(), kid=DROP),
        "kid path traversal": f.signed(f.claims(), kid="../../../../../../dev/null"),
        "kid SQL injection": f.signed(f.claims(), kid="x' UNION SELECT 'secret' --"),
        "kid with CRLF": f.signed(f.claims(), kid="k\r\nX-Injected: 1"),
        "jku pointing elsewhere": f.signed(f.claims(), jku="https://evil.example/jwks.json"),
        "x5u pointing elsewhere": f.signed(f.claims(), x5u="https://evil.example/cert.pem"),
        "embedded jwk of the attacker": f.signed(f.claims(), key=f.attacker, jwk=jwk),
        "crit header": f.signed(f.claims(), crit=["exp"]),
        "expired": f.signed(f.claims(exp=now - 120)),
        "not yet valid": f.signed(f.claims(nbf=now + 120)),
        "wrong audience": f.signed(f.claims(aud="another-service")),
        "wrong issuer": f.signed(f.claims(iss="https://evil.example")),
        "missing exp": f.signed(f.claims(exp=DROP)),
        "exp as a string": f.signed(f.claims(exp=str(now + 600))),
        "missing sub": f.signed(f.claims(sub=DROP)),
        "duplicate sub claim": f.signed(json.dumps(f.claims())[:-1] + ', "sub": "someone-else"}'),
        "oversized token": f.signed(f.claims(padding="A" * 9000)),
        "JWE (five segments)": ".".join([b64_json({"alg": "RSA-OAEP", "enc": "A256GCM"})] * 5),
        "not a JWT": "not-a-token",
    }


async def _refusals(
    client: httpx.AsyncClient, owner_db: asyncpg.Connection, forged: dict[str, str]
) -> tuple[int, list[str]]:
    tried, wrong = 0, []
    for method, path, body in TARGETS:
        for name, token in forged.items():
            tried += 1
            response = await client.request(method, path, json=body, headers=bearer(token))
            if response.status_code != 401:
                wrong.append(f"{method} {path} {name}: {response.status_code}")
            elif not response.headers.get("WWW-Authenticate", "").startswith("Bearer"):
                wrong.append(f"{method} {path} {name}: no WWW-Authenticate")
            elif any(s in response.text for s in ('"plans"', '"entry"', token[:40])):
                wrong.append(f"{method} {path} {name}: leaked in the body")
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0
    return tried, wrong


@pytest.mark.parametrize("identity", sorted(IDENTITIES))
async def test_forged_tokens_are_refused_everywhere_and_leave_no_trace(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, identity: str
) -> None:
    await add_plan(owner_db, CHILD_A)
    forged = forgeries(Forger(tokens, IDENTITIES[identity]()))
    assert len(forged) >= 20
    tried, wrong = await _refusals(client, owner_db, forged)
    assert tried == len(forged) * len(TARGETS)
    assert wrong == []


async def test_the_forger_control_token_is_accepted(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    # Proves the forgeries fail for the reason they name, not because the builder is broken.
    forger = Forger(tokens, dev_tokens.clinician_claims())
    method, path, body = TARGETS[0]
    response = await client.request(
        method, path, json=body, headers=bearer(forger.signed(forger.claims()))
    )
    assert response.status_code == 200


async def test_a_role_the_user_does_not_hold_is_403_audited_as_denied_not_as_a_lookup(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    forger = Forger(tokens, dev_tokens.clinician_claims())
    token = forger.signed(forger.claims(selected_roleid="999999999999"))
    for method, path, body in TARGETS:
        response = await client.request(method, path, json=body, headers=bearer(token))
        assert response.status_code == 403
    kinds = [r["kind"] for r in await owner_db.fetch("SELECT kind FROM audit_events")]
    assert kinds == ["access-denied"] * len(TARGETS)


async def test_a_local_authority_scope_without_an_organisation_is_401(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    forger = Forger(tokens, {"sub": "la-system-x", "scope": "cpis:history"})
    for method, path, body in TARGETS:
        response = await client.request(
            method, path, json=body, headers=bearer(forger.signed(forger.claims()))
        )
        assert response.status_code == 401
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0
