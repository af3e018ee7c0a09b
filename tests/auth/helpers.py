"""Keys, raw token builders and test doubles for the auth tests.

Tokens are built by hand (not with jose) so tests can produce exactly the malformed, forged
or oddly-headed tokens an attacker could send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://idp.example.nhs.uk/realm"
AUDIENCE = "cpis-api"
RSA_KID = "rsa-key-1"
EC_KID = "ec-key-1"

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def _int_b64(n: int, length: int | None = None) -> str:
    return b64(n.to_bytes(length or (n.bit_length() + 7) // 8, "big"))


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "n": _int_b64(numbers.n), "e": _int_b64(numbers.e), **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
    x, y = _int_b64(numbers.x, size), _int_b64(numbers.y, size)
    return {"kty": "EC", "crv": crv, "kid": kid, "x": x, "y": y, **extra}


def signature(key: SigningKey | bytes, alg: str, signing_input: bytes) -> bytes:
    if isinstance(key, bytes):
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}[alg]
        return hmac.new(key, signing_input, digest).digest()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_token(
    header: dict[str, Any], payload: dict[str, Any] | str, key: SigningKey | bytes
) -> str:
    """A compact JWS over exactly this header and payload (payload may be raw JSON text)."""
    body = b64(payload.encode()) if isinstance(payload, str) else b64_json(payload)
    signing_input = f"{b64_json(header)}.{body}"
    alg = str(header.get("alg", "RS256"))
    return f"{signing_input}.{b64(signature(key, alg, signing_input.encode()))}"


DROP: Any = object()  # claims(exp=DROP) leaves the claim out


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


@dataclass
class Keys:
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    other_rsa: rsa.RSAPrivateKey
    other_ec: ec.EllipticCurvePrivateKey

    def jwks(self) -> dict[str, Any]:
        # RSA first on purpose: jose's own key-set handling breaks ES256 in that order.
        return {"keys": [rsa_jwk(self.rsa, RSA_KID), ec_jwk(self.ec, EC_KID)]}

    def rs256(self, payload: dict[str, Any] | str, **header: Any) -> str:
        return raw_token(
            {"alg": "RS256", "typ": "JWT", "kid": RSA_KID, **header}, payload, self.rsa
        )

    def es256(self, payload: dict[str, Any] | str, **header: Any) -> str:
        return raw_token({"alg": "ES256", "typ": "JWT", "kid": EC_KID, **header}, payload, self.ec)

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def rsa_public_der(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class JWKSServer:
    url: str
    doc: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    body: bytes | None = None  # overrides doc when set
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeClock:
    """A monotonic clock the tests move by hand, to exercise the refresh interval."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
