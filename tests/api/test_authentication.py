"""Token rejections seen through HTTP: always 401 with WWW-Authenticate, never audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from app.auth import dev_tokens
from app.auth.keys import DevKey
from tests.conftest import Tokens, bearer
from tests.support import CHILD_A


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(key: DevKey, claims: dict[str, object]) -> str:
    """The classic forgery: HMAC keyed with the server's *public* key."""
    private = serialization.load_pem_private_key(key.private_pem, password=None)
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(public_der, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def unsigned(key: DevKey, claims: dict[str, object], alg: str = "none") -> str:
    header = b64(json.dumps({"alg": alg, "kid": key.kid}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def _claims(tokens: Tokens, **override: object) -> dict[str, object]:
    now = int(time.time())
    return {
        **dev_tokens.clinician_claims(),
        "iss": tokens.settings.issuer,
        "aud": tokens.settings.audience,
        "iat": now,
        "exp": now + 600,
        **override,
    }


def _forgeries(tokens: Tokens) -> dict[str, str]:
    key = tokens.key
    good = tokens.clinician()
    header, payload, signature = good.split(".")
    tampered_payload = b64(json.dumps(_claims(tokens, sub="someone-else")).encode())
    return {
        "expired": tokens.mint(_claims(tokens, exp=int(time.time()) - 120)),
        "wrong audience": tokens.mint(_claims(tokens, aud="another-service")),
        "wrong issuer": tokens.mint(_claims(tokens, iss="https://evil.example")),
        "alg none": unsigned(key, _claims(tokens)),
        "alg NoNe": unsigned(key, _claims(tokens), alg="NoNe"),
        "hs256 with the public key": hs256_with_public_key(key, _claims(tokens)),
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "unknown kid": good.replace(
            header, b64(json.dumps({"alg": "ES256", "kid": "nope", "typ": "JWT"}).encode())
        ),
        "not a jwt": "not-a-token",
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong audience",
        "wrong issuer",
        "alg none",
        "alg NoNe",
        "hs256 with the public key",
        "tampered signature",
        "tampered payload",
        "unknown kid",
        "not a jwt",
    ],
)
async def test_bad_tokens_are_401_and_leave_no_trace(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, case: str
) -> None:
    token = _forgeries(tokens)[case]
    response = await client.post(
        "/v1/lookups",
        json={"nhs_number": CHILD_A, "care_setting": "other"},
        headers=bearer(token),
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthorized"
    assert token not in response.text
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_missing_or_non_bearer_authorization_is_401(client: httpx.AsyncClient) -> None:
    body = {"nhs_number": CHILD_A, "care_setting": "other"}
    assert (await client.post("/v1/lookups", json=body)).status_code == 401
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert (await client.post("/v1/lookups", json=body, headers=basic)).status_code == 401
