"""The verified-token cache never accepts what a full verification would refuse."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.auth import token_cache
from app.auth.keys import JWKSProvider, load_jwks
from app.auth.token_cache import VerifiedTokens
from app.errors import Unauthorized

from .helpers import AUDIENCE, ISSUER, Keys, claims


class Counting:
    """Counts full verifications (the real verify_token does the work)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = token_cache.verify_token

        async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
            self.calls += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(token_cache, "verify_token", counted)


async def check(cache: VerifiedTokens, token: str, provider: JWKSProvider) -> dict[str, Any]:
    return await cache.verify(token, provider, issuer=ISSUER, audience=AUDIENCE)


async def test_a_repeated_token_is_verified_once(
    keys: Keys, provider: JWKSProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting, cache = Counting(monkeypatch), VerifiedTokens()
    token = keys.es256(claims(sub="desk-1"))
    for _ in range(3):
        assert (await check(cache, token, provider))["sub"] == "desk-1"
    assert counting.calls == 1


async def test_a_token_differing_in_one_byte_is_verified_and_refused(
    keys: Keys, provider: JWKSProvider
) -> None:
    cache = VerifiedTokens()
    token = keys.es256(claims())
    await check(cache, token, provider)
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(Unauthorized):
        await check(cache, forged, provider)


async def test_past_its_exp_a_token_is_verified_in_full_again(
    keys: Keys, provider: JWKSProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    counting, cache = Counting(monkeypatch), VerifiedTokens(clock=lambda: now[0])
    token = keys.es256(claims(exp=int(now[0]) + 60))
    await check(cache, token, provider)
    await check(cache, token, provider)
    now[0] += 61  # the cache's clock passes exp: the full check (and its refusal) applies
    await check(cache, token, provider)
    assert counting.calls == 2


async def test_a_token_accepted_only_within_the_leeway_is_not_cached(
    keys: Keys, provider: JWKSProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting, cache = Counting(monkeypatch), VerifiedTokens()
    token = keys.es256(claims(exp=int(time.time()) - 5))
    await check(cache, token, provider)
    await check(cache, token, provider)
    assert counting.calls == 2
    assert len(cache) == 0


async def test_a_cached_token_is_refused_when_its_key_leaves_the_key_set(keys: Keys) -> None:
    cache = VerifiedTokens()
    token = keys.es256(claims())
    await check(cache, token, JWKSProvider(keys=load_jwks(keys.jwks())))
    without_ec = {"keys": [k for k in keys.jwks()["keys"] if k["kty"] != "EC"]}
    with pytest.raises(Unauthorized):
        await check(cache, token, JWKSProvider(keys=load_jwks(without_ec)))


async def test_the_cache_is_bounded(keys: Keys, provider: JWKSProvider) -> None:
    cache = VerifiedTokens(max_entries=2)
    for n in range(3):
        await check(cache, keys.es256(claims(sub=f"user-{n}")), provider)
    assert len(cache) == 2


async def test_callers_cannot_change_what_the_cache_holds(
    keys: Keys, provider: JWKSProvider
) -> None:
    cache = VerifiedTokens()
    token = keys.es256(claims(sub="desk-1"))
    (await check(cache, token, provider))["sub"] = "someone-else"
    assert (await check(cache, token, provider))["sub"] == "desk-1"
