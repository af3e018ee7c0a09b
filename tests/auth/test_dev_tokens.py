"""Minted development tokens verify end to end and become the expected principals."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from jose import jwt

from app.auth import dev_tokens
from app.auth.keys import DevKey, JWKSProvider, ensure_dev_key, load_jwks
from app.auth.principals import HealthUser, ServiceClient, principal_from_claims
from app.auth.verifier import verify_token
from app.config import DEV_AUDIENCE, DEV_ISSUER
from app.errors import Unauthorized


@pytest.fixture
def dev_key(tmp_path: Path) -> DevKey:
    return ensure_dev_key(tmp_path / "dev-signing-key.pem")


@pytest.fixture
def dev_provider(dev_key: DevKey) -> JWKSProvider:
    return JWKSProvider(keys=load_jwks(dev_key.jwks))


def mint(key: DevKey, claims: dict[str, Any], **kwargs: Any) -> str:
    return dev_tokens.mint_token(
        key, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, claims=claims, **kwargs
    )


async def verified(token: str, provider: JWKSProvider) -> dict[str, Any]:
    return await verify_token(token, provider, issuer=DEV_ISSUER, audience=DEV_AUDIENCE)


def test_minted_token_header(dev_key: DevKey) -> None:
    header = jwt.get_unverified_header(mint(dev_key, dev_tokens.admin_claims()))
    assert header == {"alg": "ES256", "kid": dev_key.kid, "typ": "JWT"}


@pytest.mark.asyncio
async def test_minted_clinician_token_verifies(dev_key: DevKey, dev_provider: JWKSProvider) -> None:
    claims = await verified(mint(dev_key, dev_tokens.clinician_claims()), dev_provider)
    user = principal_from_claims(claims)
    assert isinstance(user, HealthUser)
    assert (user.org_code, user.name, user.can_notify) == ("RJ122", "Dr Ada Example", True)
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.asyncio
async def test_clinician_helper_options(dev_key: DevKey, dev_provider: JWKSProvider) -> None:
    claims = dev_tokens.clinician_claims(
        org="RX1", activity=("B0170",), name="Nurse Example", sub="user-2"
    )
    user = principal_from_claims(await verified(mint(dev_key, claims), dev_provider))
    assert isinstance(user, HealthUser)
    assert (user.sub, user.org_code, user.name) == ("user-2", "RX1", "Nurse Example")
    assert user.can_view
    assert not user.can_notify


@pytest.mark.asyncio
async def test_minted_service_tokens_verify(dev_key: DevKey, dev_provider: JWKSProvider) -> None:
    la = principal_from_claims(await verified(mint(dev_key, dev_tokens.la_claims()), dev_provider))
    assert la == ServiceClient(
        sub="la-system-E09000007",
        org_code="E09000007",
        scopes=frozenset({"cpis:upload", "cpis:notifications", "cpis:history"}),
    )
    only = dev_tokens.la_claims(org="E06000001", scopes=("cpis:history",))
    limited = principal_from_claims(await verified(mint(dev_key, only), dev_provider))
    assert limited == ServiceClient("la-system-E06000001", "E06000001", frozenset({"cpis:history"}))
    for helper, scope in (
        (dev_tokens.auditor_claims, "cpis:audit"),
        (dev_tokens.admin_claims, "cpis:admin"),
    ):
        client = principal_from_claims(await verified(mint(dev_key, helper()), dev_provider))
        assert isinstance(client, ServiceClient)
        assert (client.org_code, client.scopes) == (None, frozenset({scope}))


@pytest.mark.asyncio
async def test_minted_token_expiry_and_overrides(
    dev_key: DevKey, dev_provider: JWKSProvider
) -> None:
    expired = mint(dev_key, {**dev_tokens.admin_claims(), "exp": int(time.time()) - 120})
    with pytest.raises(Unauthorized, match="expired"):
        await verified(expired, dev_provider)
    with pytest.raises(Unauthorized, match="expired"):
        await verified(mint(dev_key, dev_tokens.admin_claims(), ttl_seconds=-120), dev_provider)
    other_aud = dev_tokens.mint_token(
        dev_key, issuer=DEV_ISSUER, audience="someone-else", claims=dev_tokens.admin_claims()
    )
    with pytest.raises(Unauthorized, match="audience"):
        await verified(other_aud, dev_provider)


@pytest.mark.asyncio
async def test_token_from_a_previous_dev_key_is_refused(
    tmp_path: Path, dev_provider: JWKSProvider
) -> None:
    other = ensure_dev_key(tmp_path / "elsewhere" / "key.pem")
    with pytest.raises(Unauthorized):
        await verified(mint(other, dev_tokens.admin_claims()), dev_provider)
