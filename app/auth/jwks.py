"""JWKS parsing: which published keys we accept, each pinned to exactly one algorithm.

Keys are rebuilt from their public members only; anything we cannot pin unambiguously to
RS256 or ES256 (other kty/crv/alg, ``use`` other than sig, duplicate kids) is skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk  # type: ignore[import-untyped,unused-ignore]
from jose.exceptions import JOSEError  # type: ignore[import-untyped,unused-ignore]

log = logging.getLogger(__name__)

RS256: Final = "RS256"
ES256: Final = "ES256"
ALLOWED_ALGORITHMS: Final = frozenset({RS256, ES256})
MAX_KID_LENGTH: Final = 200
MAX_JWKS_KEYS: Final = 100
_RSA_BITS: Final = range(2048, 8193)  # below 2048 is weak; above 8192 only costs CPU
_P256_COORDINATE_BYTES: Final = 32
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key, usable with exactly one algorithm."""

    kid: str
    alg: str
    key: Any = field(repr=False)  # a jose backend Key built from public numbers only


class KeySet:
    """Immutable mapping kid -> VerificationKey."""

    def __init__(self, keys: Iterable[VerificationKey] = ()) -> None:
        self._keys: dict[str, VerificationKey] = {k.kid: k for k in keys}

    def get(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(value: object, *, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        raise ValueError("not base64url")
    if len(value) * 3 // 4 > max_bytes:
        raise ValueError("too long")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def valid_kid(kid: object) -> bool:
    return isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH and kid.isprintable()


def _pinned_algorithm(entry: Mapping[str, Any]) -> str | None:
    """The one algorithm this key may verify, or None if the key is not for us."""
    kty = entry.get("kty")
    if kty == "RSA":
        derived = RS256
    elif kty == "EC" and entry.get("crv") == "P-256":
        derived = ES256
    else:
        return None
    declared = entry.get("alg", derived)
    return derived if declared == derived else None


def _rsa_public_key(entry: Mapping[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64url_decode(entry.get("n"), max_bytes=1024), "big")
    e = int.from_bytes(_b64url_decode(entry.get("e"), max_bytes=8), "big")
    if n.bit_length() not in _RSA_BITS or e < 3 or e % 2 == 0:
        raise ValueError("unacceptable RSA key")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _ec_public_key(entry: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    x = _b64url_decode(entry.get("x"), max_bytes=_P256_COORDINATE_BYTES)
    y = _b64url_decode(entry.get("y"), max_bytes=_P256_COORDINATE_BYTES)
    if len(x) != _P256_COORDINATE_BYTES or len(y) != _P256_COORDINATE_BYTES:
        raise ValueError("P-256 coordinates must be 32 bytes")
    # from_encoded_point rejects points that are not on the curve.
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def _parse_jwk(entry: object) -> VerificationKey | None:
    if not isinstance(entry, Mapping):
        return None
    kid = entry.get("kid")
    if not valid_kid(kid) or entry.get("use", "sig") != "sig":
        return None
    if _PRIVATE_MEMBERS & entry.keys():
        # A published private key means anyone can mint tokens with it: never trust it.
        log.warning("JWKS key %r carries private members; ignored", kid)
        return None
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    alg = _pinned_algorithm(entry)
    if alg is None:
        return None
    try:
        public = _rsa_public_key(entry) if alg == RS256 else _ec_public_key(entry)
        return VerificationKey(kid=str(kid), alg=alg, key=jwk.construct(public, alg))
    except (ValueError, TypeError, JOSEError):
        return None


def load_jwks(doc: Mapping[str, Any]) -> KeySet:
    """Usable signing keys of a JWKS document; raises ValueError if it is not a JWKS."""
    entries = doc.get("keys") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError("a JWKS document needs a 'keys' list")
    found: dict[str, VerificationKey] = {}
    ambiguous: set[str] = set()
    for entry in entries[:MAX_JWKS_KEYS]:
        key = _parse_jwk(entry)
        if key is None:
            continue
        if key.kid in found or key.kid in ambiguous:
            # Two keys under one kid: we cannot know which one the issuer meant.
            ambiguous.add(key.kid)
            found.pop(key.kid, None)
            continue
        found[key.kid] = key
    return KeySet(found.values())


def jwk_thumbprint(public_jwk: Mapping[str, str]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC or RSA public JWK."""
    names = ("crv", "kty", "x", "y") if public_jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({n: public_jwk[n] for n in names}, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())
