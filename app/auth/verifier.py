"""The one place a bearer token is verified.

python-jose is only ever given one key and ``algorithms=[that key's alg]``: with an unpinned
algorithm it accepts HS256 tokens forged with a DER public key as the HMAC secret, and with a
key set it tries every key and aborts on the first one of the wrong type.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final, NoReturn, cast

from jose import jwt  # type: ignore[import-untyped,unused-ignore]
from jose.exceptions import (  # type: ignore[import-untyped,unused-ignore]
    ExpiredSignatureError,
    JOSEError,
    JWTClaimsError,
)

from app.auth.keys import ALLOWED_ALGORITHMS, JWKSProvider, VerificationKey, valid_kid
from app.errors import Unauthorized

MAX_TOKEN_LENGTH: Final = 8 * 1024
CLOCK_LEEWAY_SECONDS: Final = 30
MAX_SUB_LENGTH: Final = 200
# jku/x5u/jwk/x5c would let the token choose its own key; crit demands semantics we do not
# implement; enc means JWE; zip and b64 change how the payload is read.
_REFUSED_HEADERS: Final = frozenset({"crit", "jku", "x5u", "jwk", "x5c", "enc", "zip", "b64"})
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")
_BEARER: Final = re.compile(r"Bearer +([A-Za-z0-9._~+/-]+=*) *", re.IGNORECASE)

_DECODE_OPTIONS: Final[dict[str, Any]] = {
    "verify_signature": True,
    "verify_aud": True,
    "verify_iss": True,
    "verify_exp": True,
    "verify_nbf": True,
    "verify_iat": True,
    "verify_sub": True,
    "verify_jti": True,
    # at_hash binds an ID token to an access token we never see; checking it proves nothing.
    "verify_at_hash": False,
    "require_exp": True,
    "require_sub": True,
    # jose skips the audience check entirely when the token has no aud claim.
    "require_aud": True,
    "require_iss": True,
    "require_iat": False,
    "leeway": CLOCK_LEEWAY_SECONDS,
}


@dataclass(frozen=True, slots=True)
class _Header:
    alg: str
    kid: str


def _reject(detail: str) -> NoReturn:
    raise Unauthorized(detail)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    match = _BEARER.fullmatch(authorization or "")
    if match is None:
        _reject("a valid bearer token is required")
    return match.group(1)


def _strict_json_object(segment: str) -> dict[str, Any] | None:
    """Decode a canonical base64url JSON object, refusing duplicate names and NaN."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError("duplicate member")
        return dict(pairs)

    def no_constants(name: str) -> NoReturn:
        raise ValueError(f"{name} is not JSON")

    raw = _canonical_b64url(segment)
    if raw is None:
        return None
    try:
        value = json.loads(raw, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return None
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def _canonical_b64url(segment: str) -> bytes | None:
    # Non-canonical encodings (stray trailing bits) would make one token have many spellings.
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        return None
    return raw


def _check_shape(token: object) -> _Header:
    """Everything that can be refused without a key, before any key lookup or fetch."""
    if not isinstance(token, str) or not token:
        _reject("a valid bearer token is required")
    if len(token) > MAX_TOKEN_LENGTH:
        _reject("token too large")
    segments = token.split(".")
    if len(segments) == 5:
        _reject("encrypted tokens are not accepted")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
        _reject("token is not a signed JWT")
    header = _strict_json_object(segments[0])
    if header is None:
        _reject("token header malformed")
    if "enc" in header:
        _reject("encrypted tokens are not accepted")
    if _REFUSED_HEADERS & header.keys():
        _reject("token header parameter not accepted")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        _reject("token algorithm not accepted")
    if not valid_kid(kid):
        _reject("token key id missing or malformed")
    if _strict_json_object(segments[1]) is None or _canonical_b64url(segments[2]) is None:
        _reject("token malformed")
    return _Header(alg=alg, kid=cast(str, kid))


def _claims_error_detail(exc: JOSEError) -> str:
    message = str(exc)
    if isinstance(exc, ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, JWTClaimsError):
        if "nbf" in message:
            return "token not yet valid"
        if "audience" in message or "issuer" in message:
            return "token issuer or audience not accepted"
        return "token claims malformed"
    if "Signature verification failed" in message:
        return "token signature invalid"
    if "missing required key" in message:
        return "token is missing a required claim"
    return "token invalid"


def _decode(token: str, key: VerificationKey, *, issuer: str, audience: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.alg],
            audience=audience,
            issuer=issuer,
            options=dict(_DECODE_OPTIONS),
        )
    except JOSEError as exc:
        _reject(_claims_error_detail(exc))
    except (TypeError, ValueError, OverflowError):
        # jose does int(claims["exp"]) and lets e.g. TypeError (null) or OverflowError escape.
        _reject("token claims malformed")
    if not isinstance(claims, dict):
        _reject("token claims malformed")
    return cast(dict[str, Any], claims)


def _is_numeric_date(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_registered_claims(claims: dict[str, Any]) -> None:
    # jose calls int() on these, so it accepts "exp": "9999999999" and "exp": true.
    if not _is_numeric_date(claims.get("exp")):
        _reject("token claims malformed")
    for name in ("nbf", "iat"):
        if name in claims and not _is_numeric_date(claims[name]):
            _reject("token claims malformed")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH or not sub.isprintable():
        _reject("token subject malformed")


async def verify_token(
    token: str, provider: JWKSProvider, *, issuer: str, audience: str
) -> dict[str, Any]:
    """Verified claims of ``token``, or Unauthorized with a generic detail that never echoes it."""
    if not issuer or not audience:
        _reject("token issuer or audience not accepted")  # fail closed on a misconfiguration
    header = _check_shape(token)
    key = await provider.get(header.kid)
    if key is None:
        _reject("token signing key not recognised")
    if key.alg != header.alg:
        _reject("token algorithm not accepted for its key")
    claims = _decode(token, key, issuer=issuer, audience=audience)
    _check_registered_claims(claims)
    return claims
