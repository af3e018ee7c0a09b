"""Where verification keys come from: a JWKS file, a JWKS URL, or the development key.

The parsing rules live in ``app.auth.jwks``; the names are re-exported here so callers need
one import.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth.jwks import (
    ALLOWED_ALGORITHMS,
    ES256,
    RS256,
    KeySet,
    VerificationKey,
    b64url_encode,
    jwk_thumbprint,
    load_jwks,
    valid_kid,
)
from app.config import Settings

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ES256",
    "RS256",
    "AuthConfigError",
    "DevKey",
    "JWKSProvider",
    "KeySet",
    "VerificationKey",
    "ensure_dev_key",
    "jwk_thumbprint",
    "load_jwks",
    "provider_from_settings",
    "valid_kid",
]

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS: Final = 5.0
MIN_REFRESH_INTERVAL_SECONDS: Final = 30.0
MAX_JWKS_BYTES: Final = 256 * 1024


class AuthConfigError(RuntimeError):
    """The identity-provider configuration cannot be used safely; raised at startup."""


class JWKSProvider:
    """Keys by kid, from a fixed key set or a JWKS URL (cached, refreshed on unknown kid)."""

    def __init__(
        self,
        *,
        keys: KeySet | None = None,
        url: str | None = None,
        cache_seconds: float = 300.0,
        min_refresh_interval: float = MIN_REFRESH_INTERVAL_SECONDS,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (keys is None) == (url is None):
            raise ValueError("give exactly one of keys or url")
        if url is not None and (
            urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname
        ):
            raise AuthConfigError("the JWKS URL must be an absolute http(s) URL")
        self._keys = keys if keys is not None else KeySet()
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_interval = min_refresh_interval
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_file(cls, path: Path) -> JWKSProvider:
        """Read once: a file-based JWKS changes only with a restart."""
        try:
            keys = load_jwks(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise AuthConfigError(f"cannot read JWKS file {path}: {exc}") from exc
        if not keys:
            raise AuthConfigError(f"JWKS file {path} holds no usable RS256/ES256 signing key")
        return cls(keys=keys)

    async def get(self, kid: str) -> VerificationKey | None:
        if self._url is None:
            return self._keys.get(kid)
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._cache_seconds
        if stale and self._may_refresh():
            await self.refresh()
        found = self._keys.get(kid)
        if found is None and self._may_refresh():
            # Unknown kid may mean the IdP rotated keys; the interval stops kid spraying.
            await self.refresh()
            found = self._keys.get(kid)
        return found

    def _may_refresh(self) -> bool:
        last = self._attempted_at
        return last is None or self._clock() - last >= self._min_interval

    async def refresh(self) -> None:
        """Fetch the JWKS; failures keep the previous keys. Concurrent callers share one fetch."""
        generation = self._generation
        async with self._lock:
            if self._generation != generation or not self._may_refresh():
                return  # another task fetched while we queued
            self._attempted_at = self._clock()
            try:
                keys = load_jwks(await self._fetch())
            except Exception as exc:  # a failed refresh must never fail a request
                log.warning(
                    "JWKS refresh failed (%s); keeping %d keys", type(exc).__name__, len(self._keys)
                )
            else:
                self._keys = keys
                self._fetched_at = self._attempted_at
            finally:
                self._generation += 1

    async def _fetch(self) -> dict[str, Any]:
        assert self._url is not None
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        body = bytearray()
        # httpx timeouts are per operation; this bounds a slow-drip server too.
        async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
            headers = {"Accept": "application/json"}
            async with self._client.stream("GET", self._url, headers=headers) as response:
                if response.status_code != 200:
                    raise ValueError(f"JWKS endpoint answered {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise ValueError("JWKS document too large")
        doc = json.loads(bytes(body))
        if not isinstance(doc, dict):
            raise ValueError("JWKS document is not a JSON object")
        return doc

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


@dataclass(frozen=True, slots=True)
class DevKey:
    """The development-mode ES256 signing key."""

    private_pem: bytes = field(repr=False)
    kid: str
    jwks: dict[str, Any]


def _write_new_key(path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)  # the umask can only narrow the mode; be explicit
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        # link() fails if the path exists, so a concurrent starter can never replace a key
        # another process already uses, and readers never see a half-written file.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _read_dev_key(path: Path) -> DevKey:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
        raise AuthConfigError(f"{path} must be a regular file with mode 0600")
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise AuthConfigError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise AuthConfigError(f"{path} is not a P-256 private key")
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    public = {"kty": "EC", "crv": "P-256", "x": b64url_encode(point[1:33])}
    public["y"] = b64url_encode(point[33:])
    kid = jwk_thumbprint(public)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    entry = {**public, "kid": kid, "alg": ES256, "use": "sig"}
    return DevKey(private_pem=pem, kid=kid, jwks={"keys": [entry]})


def ensure_dev_key(path: Path) -> DevKey:
    """Load the development signing key, creating it (once, atomically, mode 0600) if absent."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        _write_new_key(path)
    return _read_dev_key(path)


def provider_from_settings(settings: Settings) -> JWKSProvider:
    """The key provider the configuration asks for; AuthConfigError if it is unsafe."""
    if settings.development_mode:
        if settings.env == "production":
            raise AuthConfigError("production needs CPIS_JWT_ISSUER, CPIS_JWT_AUDIENCE and a JWKS")
        return JWKSProvider(keys=load_jwks(ensure_dev_key(settings.dev_key_path).jwks))
    if not (settings.jwt_issuer and settings.jwt_audience):
        # Falling back to the development issuer/audience here would be silently wrong.
        raise AuthConfigError("CPIS_JWT_ISSUER and CPIS_JWT_AUDIENCE must both be set")
    if bool(settings.jwks_url) == bool(settings.jwks_file):
        raise AuthConfigError("set exactly one of CPIS_JWKS_URL or CPIS_JWKS_FILE")
    if settings.jwks_file:
        return JWKSProvider.from_file(settings.jwks_file)
    url = str(settings.jwks_url)
    if settings.env == "production" and urlsplit(url).scheme != "https":
        raise AuthConfigError("CPIS_JWKS_URL must use https in production")
    return JWKSProvider(url=url, cache_seconds=settings.jwks_cache_seconds)
