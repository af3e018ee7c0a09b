"""Verified tokens, remembered until they expire, so repeat callers skip the signature check.

A registration desk sends the same CIS2 token with every lookup of a shift, and an ES256
verification with python-jose costs more than a lookup's database work (measured by
``make bench``). Why remembering a verification is safe:

- the key is SHA-256 over the whole token, signature included, and the accepted issuer and
  audience: a token differing in any byte is a different entry and is verified in full;
- only tokens that passed every check of ``verify_token`` are stored, and an entry is used
  only until the token's own ``exp`` (never the 30 s leeway: a little stricter than a full
  verification), so a cached token is never accepted when a fresh check would refuse it
  for its time claims;
- every hit asks the key provider for the token's ``kid`` again, so a key withdrawn from
  the JWKS stops its tokens exactly as it would without the cache;
- it is bounded (``MAX_ENTRIES``, oldest evicted) and per process; it holds claims, which
  are already in every request's memory, and never logs anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from app.auth.keys import JWKSProvider
from app.auth.verifier import verify_token

MAX_ENTRIES: Final = 4096


@dataclass(frozen=True, slots=True)
class _Entry:
    claims: dict[str, Any]
    kid: str
    alg: str
    expires_at: float


class VerifiedTokens:
    """``verify`` answers like ``verify_token``, from memory when it safely can."""

    def __init__(
        self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def verify(
        self, token: str, provider: JWKSProvider, *, issuer: str, audience: str
    ) -> dict[str, Any]:
        digest = hashlib.sha256(f"{issuer}\n{audience}\n{token}".encode()).digest()
        entry = self._entries.get(digest)
        if entry is not None:
            if self._clock() < entry.expires_at:
                key = await provider.get(entry.kid)
                if key is not None and key.alg == entry.alg:
                    return dict(entry.claims)
            del self._entries[digest]
        claims = await verify_token(token, provider, issuer=issuer, audience=audience)
        self._remember(digest, token, claims)
        return dict(claims)

    def _remember(self, digest: bytes, token: str, claims: dict[str, Any]) -> None:
        expires_at = float(claims["exp"])  # verify_token guarantees a finite number
        if expires_at <= self._clock():
            return  # accepted only within the leeway: not worth keeping
        header = _header(token)
        self._entries[digest] = _Entry(dict(claims), header["kid"], header["alg"], expires_at)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _header(token: str) -> dict[str, Any]:
    """The already-verified token's header (kid and alg)."""
    segment = token.split(".", 1)[0]
    header: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return header
