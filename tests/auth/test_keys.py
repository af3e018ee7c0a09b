"""Key loading: JWKS rules, the URL provider against a real HTTP server, the development key."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.auth.keys import (
    AuthConfigError,
    JWKSProvider,
    KeySet,
    ensure_dev_key,
    jwk_thumbprint,
    load_jwks,
    provider_from_settings,
)
from app.auth.verifier import verify_token
from app.config import Settings
from app.errors import Unauthorized

from .helpers import (
    AUDIENCE,
    EC_KID,
    ISSUER,
    RSA_KID,
    FakeClock,
    JWKSServer,
    Keys,
    claims,
    ec_jwk,
    raw_token,
    rsa_jwk,
)

# --- load_jwks --------------------------------------------------------------------------


def test_load_jwks_pins_algorithm_per_key(keys: Keys) -> None:
    key_set = load_jwks(keys.jwks())
    assert key_set.kids == {RSA_KID, EC_KID}
    rsa_key, ec_key = key_set.get(RSA_KID), key_set.get(EC_KID)
    assert rsa_key is not None
    assert rsa_key.alg == "RS256"
    assert ec_key is not None
    assert ec_key.alg == "ES256"
    assert key_set.get("nope") is None


def test_load_jwks_accepts_matching_declared_alg(keys: Keys) -> None:
    doc = {
        "keys": [
            rsa_jwk(keys.rsa, "a", alg="RS256", use="sig", key_ops=["verify"]),
            ec_jwk(keys.ec, "b", alg="ES256"),
        ]
    }
    assert load_jwks(doc).kids == {"a", "b"}


@pytest.mark.parametrize(
    "entry",
    [
        {"kty": "oct", "kid": "x", "k": "c2VjcmV0"},
        {"kty": "OKP", "kid": "x", "crv": "Ed25519", "x": "AAAA"},
        {"kty": "RSA", "kid": "x"},
        {"kty": "EC", "kid": "x", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        "not a key",
        None,
        [],
    ],
)
def test_load_jwks_skips_unusable_entries(keys: Keys, entry: Any) -> None:
    key_set = load_jwks({"keys": [entry, ec_jwk(keys.ec, EC_KID)]})
    assert key_set.kids == {EC_KID}


def _skipped_variants(keys: Keys) -> list[dict[str, Any]]:
    good_rsa, good_ec = rsa_jwk(keys.rsa, "x"), ec_jwk(keys.ec, "x")
    p384 = ec_jwk(ec.generate_private_key(ec.SECP384R1()), "x")
    weak = rsa_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024), "x")
    off_curve = {**good_ec, "y": good_ec["x"]}
    return [
        {**good_rsa, "alg": "RS512"},
        {**good_rsa, "alg": "HS256"},
        {**good_rsa, "alg": "ES256"},
        {**good_ec, "alg": "RS256"},
        {**good_ec, "alg": "none"},
        {**good_rsa, "use": "enc"},
        {**good_rsa, "key_ops": ["encrypt"]},
        {**good_rsa, "key_ops": "verify"},
        {**good_rsa, "kid": ""},
        {**good_rsa, "kid": 7},
        {**good_rsa, "kid": "x" * 201},
        {k: v for k, v in good_rsa.items() if k != "kid"},
        {**good_rsa, "d": "AQAB"},  # a leaked private key is never trusted
        {**good_ec, "d": "AQAB"},
        {**good_rsa, "e": "AAAA"},
        {**good_rsa, "n": "not base64!"},
        {**good_ec, "x": good_ec["x"] + "AA"},
        p384,
        weak,
        off_curve,
    ]


def test_load_jwks_skips_keys_it_cannot_pin_or_trust(keys: Keys) -> None:
    for variant in _skipped_variants(keys):
        assert len(load_jwks({"keys": [variant]})) == 0, variant


def test_load_jwks_drops_ambiguous_duplicate_kids(keys: Keys) -> None:
    doc = {"keys": [rsa_jwk(keys.rsa, "dup"), rsa_jwk(keys.other_rsa, "dup"), ec_jwk(keys.ec, "e")]}
    assert load_jwks(doc).kids == {"e"}


@pytest.mark.parametrize("doc", [{}, {"keys": {}}, {"keys": "x"}, [], "keys"])
def test_load_jwks_refuses_documents_that_are_not_jwks(doc: Any) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        load_jwks(doc)


def test_rfc7638_thumbprint_example() -> None:
    # The worked example of RFC 7638 section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
        "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
        "0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
        "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    thumbprint = jwk_thumbprint({"kty": "RSA", "n": n, "e": "AQAB"})
    assert thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# --- file provider ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_file_provider_reads_once(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    provider = JWKSProvider.from_file(path)
    path.write_text(json.dumps({"keys": []}))  # later edits need a restart
    assert await provider.get(RSA_KID) is not None
    claims_ = await verify_token(
        raw_token({"alg": "ES256", "kid": EC_KID}, claims(), keys.ec),
        provider,
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    assert claims_["sub"] == "user-1"


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"keys": []}', '{"keys": [{"kty": "oct"}]}']
)
def test_file_provider_refuses_unusable_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(AuthConfigError):
        JWKSProvider.from_file(path)
    with pytest.raises(AuthConfigError):
        JWKSProvider.from_file(tmp_path / "missing.json")


def test_provider_needs_exactly_one_source(keys: Keys) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JWKSProvider()
    with pytest.raises(ValueError, match="exactly one"):
        JWKSProvider(keys=KeySet(), url="https://idp.example/jwks")
    for url in ("file:///etc/passwd", "ftp://idp.example/jwks", "/jwks.json", "https://"):
        with pytest.raises(AuthConfigError):
            JWKSProvider(url=url)


# --- URL provider against a real HTTP server --------------------------------------------


@pytest.mark.asyncio
async def test_url_provider_fetches_caches_and_refreshes_on_unknown_kid(
    keys: Keys, jwks_server: JWKSServer
) -> None:
    clock = FakeClock()
    jwks_server.doc = {"keys": [rsa_jwk(keys.rsa, RSA_KID)]}
    provider = JWKSProvider(url=jwks_server.url, cache_seconds=300, clock=clock)
    try:
        assert await provider.get(RSA_KID) is not None
        assert await provider.get(RSA_KID) is not None
        assert jwks_server.requests == 1  # cached

        # The IdP publishes a new key. Within 30 s of the last fetch we do not ask again...
        jwks_server.doc = keys.jwks()
        clock.advance(5)
        assert await provider.get(EC_KID) is None
        assert jwks_server.requests == 1
        # ...after 30 s an unknown kid triggers one refresh, which finds it.
        clock.advance(26)
        assert await provider.get(EC_KID) is not None
        assert jwks_server.requests == 2
        token = raw_token({"alg": "ES256", "kid": EC_KID}, claims(), keys.ec)
        assert await verify_token(token, provider, issuer=ISSUER, audience=AUDIENCE)
        assert jwks_server.requests == 2
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_kid_spraying_is_rate_limited_and_coalesced(
    keys: Keys, jwks_server: JWKSServer
) -> None:
    clock = FakeClock()
    jwks_server.doc = keys.jwks()
    provider = JWKSProvider(url=jwks_server.url, clock=clock)
    try:
        await provider.get(RSA_KID)
        for i in range(200):
            assert await provider.get(f"sprayed-{i}") is None
            clock.advance(0.1)  # 20 s in all
        assert jwks_server.requests == 1

        clock.advance(15)
        # Many concurrent unknown kids after the interval: one shared fetch.
        found = await asyncio.gather(*(provider.get(f"burst-{i}") for i in range(50)))
        assert found == [None] * 50
        assert jwks_server.requests == 2

        token = raw_token({"alg": "RS256", "kid": "sprayed-x"}, claims(), keys.rsa)
        with pytest.raises(Unauthorized):
            await verify_token(token, provider, issuer=ISSUER, audience=AUDIENCE)
        assert jwks_server.requests == 2
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_concurrent_refreshes_share_one_fetch_even_without_rate_limit(
    keys: Keys, jwks_server: JWKSServer
) -> None:
    jwks_server.doc = keys.jwks()
    provider = JWKSProvider(url=jwks_server.url, min_refresh_interval=0)
    try:
        await provider.get(RSA_KID)
        assert jwks_server.requests == 1
        found = await asyncio.gather(*(provider.get(f"burst-{i}") for i in range(30)))
        assert found == [None] * 30
        # Waiters queued behind the first fetch reuse its result instead of fetching again.
        assert jwks_server.requests == 2
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_cache_expiry_refetches_and_rotation_removes_old_keys(
    keys: Keys, jwks_server: JWKSServer
) -> None:
    clock = FakeClock()
    jwks_server.doc = keys.jwks()
    provider = JWKSProvider(url=jwks_server.url, cache_seconds=60, clock=clock)
    try:
        assert await provider.get(RSA_KID) is not None
        jwks_server.doc = {"keys": [ec_jwk(keys.ec, EC_KID)]}  # RSA key retired
        clock.advance(59)
        assert await provider.get(RSA_KID) is not None  # still cached
        clock.advance(2)
        assert await provider.get(RSA_KID) is None
        assert jwks_server.requests == 2
    finally:
        await provider.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"error": "down"}'),
        (302, b""),
        (200, b"not json"),
        (200, b"[]"),
        (200, b'{"keys": "nope"}'),
        (200, b'{"keys": [' + b'{"kty": "oct"},' * 20_000 + b"{}]}"),  # over the size cap
    ],
)
async def test_failed_refresh_keeps_previous_keys(
    keys: Keys, jwks_server: JWKSServer, status: int, body: bytes
) -> None:
    clock = FakeClock()
    jwks_server.doc = keys.jwks()
    provider = JWKSProvider(url=jwks_server.url, cache_seconds=60, clock=clock)
    try:
        assert await provider.get(RSA_KID) is not None
        jwks_server.status, jwks_server.body = status, body
        clock.advance(61)
        assert await provider.get(RSA_KID) is not None  # stale but still served
        assert jwks_server.requests == 2
        clock.advance(5)
        assert await provider.get(RSA_KID) is not None
        assert jwks_server.requests == 2  # failures are rate limited too
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_unreachable_idp_means_401_not_500(keys: Keys) -> None:
    provider = JWKSProvider(url="http://127.0.0.1:9/jwks.json")  # discard port: refused
    try:
        token = raw_token({"alg": "RS256", "kid": RSA_KID}, claims(), keys.rsa)
        with pytest.raises(Unauthorized):
            await verify_token(token, provider, issuer=ISSUER, audience=AUDIENCE)
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_caller_supplied_client_is_used_and_not_closed(
    keys: Keys, jwks_server: JWKSServer
) -> None:
    jwks_server.doc = keys.jwks()
    async with httpx.AsyncClient(timeout=5) as client:
        provider = JWKSProvider(url=jwks_server.url, client=client)
        assert await provider.get(EC_KID) is not None
        await provider.aclose()
        assert not client.is_closed


# --- development key --------------------------------------------------------------------


def test_dev_key_created_once_with_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "dev-signing-key.pem"
    first = ensure_dev_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    second = ensure_dev_key(path)
    assert second == first
    assert first.kid == jwk_thumbprint(first.jwks["keys"][0])
    assert load_jwks(first.jwks).kids == {first.kid}
    assert "PRIVATE" not in repr(first)
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev-signing-key.pem"]


def test_dev_key_public_jwks_has_no_private_members(tmp_path: Path) -> None:
    entry = ensure_dev_key(tmp_path / "k.pem").jwks["keys"][0]
    assert set(entry) == {"kty", "crv", "x", "y", "kid", "alg", "use"}


def test_dev_key_concurrent_creation_yields_one_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    barrier = threading.Barrier(8)
    kids: list[str] = []

    def start() -> None:
        barrier.wait()
        kids.append(ensure_dev_key(path).kid)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(kids)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]


def test_dev_key_with_loose_permissions_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    ensure_dev_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(AuthConfigError, match="0600"):
        ensure_dev_key(path)


@pytest.mark.parametrize("content", [b"not a key", b""])
def test_dev_key_file_that_is_not_a_key_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(AuthConfigError):
        ensure_dev_key(path)


# --- provider_from_settings -------------------------------------------------------------


def _settings(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "jwt_issuer": None,
        "jwt_audience": None,
        "jwks_url": None,
        "jwks_file": None,
    }
    return Settings(**{**base, **values})


@pytest.mark.asyncio
async def test_development_mode_uses_the_dev_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    provider = provider_from_settings(settings)
    dev = ensure_dev_key(settings.dev_key_path)
    assert await provider.get(dev.kid) is not None


def test_settings_that_must_refuse_to_start(tmp_path: Path, keys: Keys) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    idp = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    refused = [
        {"env": "production"},  # production never runs on the development key
        {"jwks_url": "https://idp.example/jwks"},  # no issuer/audience
        {**idp},  # no key source
        {**idp, "jwks_url": "https://idp.example/jwks", "jwks_file": jwks},
        {**idp, "env": "production", "jwks_url": "http://idp.example/jwks"},
    ]
    for values in refused:
        with pytest.raises(AuthConfigError):
            provider_from_settings(_settings(tmp_path, **values))


@pytest.mark.asyncio
async def test_settings_with_a_jwks_file_or_url(tmp_path: Path, keys: Keys) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    idp = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    from_file = provider_from_settings(_settings(tmp_path, **idp, jwks_file=jwks))
    assert await from_file.get(EC_KID) is not None
    url = "https://idp.example/jwks"
    from_url = provider_from_settings(_settings(tmp_path, **idp, env="production", jwks_url=url))
    await from_url.aclose()
