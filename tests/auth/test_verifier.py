"""verify_token: what is accepted, everything that must be refused, and jose's pitfalls."""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

import pytest
from jose import jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

from app.auth import verifier as verifier_module
from app.auth.keys import JWKSProvider, KeySet, load_jwks
from app.auth.verifier import MAX_TOKEN_LENGTH, bearer_token, verify_token
from app.errors import Unauthorized

from .helpers import (
    AUDIENCE,
    DROP,
    EC_KID,
    ISSUER,
    RSA_KID,
    Keys,
    b64,
    b64_json,
    claims,
    ec_jwk,
    raw_token,
    rsa_jwk,
)


async def verify(token: str, provider: JWKSProvider) -> dict[str, Any]:
    return await verify_token(token, provider, issuer=ISSUER, audience=AUDIENCE)


async def rejected(token: str, provider: JWKSProvider, detail: str | None = None) -> str:
    """Assert a 401 whose detail does not echo the token; return the detail."""
    with pytest.raises(Unauthorized) as caught:
        await verify(token, provider)
    text = caught.value.detail
    assert len(token) < 8 or token not in text
    for segment in token.split("."):
        assert len(segment) < 8 or segment not in text
    if detail is not None:
        assert text == detail
    return text


def b64_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# --- accepted ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_valid_rs256_accepted(keys: Keys, provider: JWKSProvider) -> None:
    result = await verify(keys.rs256(claims(sub="rs-user")), provider)
    assert result["sub"] == "rs-user"


@pytest.mark.asyncio
async def test_valid_es256_accepted(keys: Keys, provider: JWKSProvider) -> None:
    result = await verify(keys.es256(claims(sub="es-user")), provider)
    assert result["sub"] == "es-user"


@pytest.mark.asyncio
async def test_es256_verifies_although_first_jwks_key_is_rsa(keys: Keys) -> None:
    doc = keys.jwks()
    assert doc["keys"][0]["kty"] == "RSA"
    token = keys.es256(claims())
    assert (await verify(token, JWKSProvider(keys=load_jwks(doc))))["sub"] == "user-1"
    # The pitfall this design avoids: jose itself gives up on the RSA key first.
    with pytest.raises(JOSEError):
        jwt.decode(token, doc, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)


@pytest.mark.asyncio
async def test_audience_list_containing_ours_accepted(keys: Keys, provider: JWKSProvider) -> None:
    result = await verify(keys.rs256(claims(aud=["other", AUDIENCE])), provider)
    assert result["aud"] == ["other", AUDIENCE]


# --- algorithm attacks ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
@pytest.mark.parametrize("sig", ["", "c2ln"])
async def test_alg_none_rejected(keys: Keys, provider: JWKSProvider, alg: str, sig: str) -> None:
    token = f"{b64_json({'alg': alg, 'kid': RSA_KID})}.{b64_json(claims())}.{sig}"
    await rejected(token, provider)


@pytest.mark.asyncio
@pytest.mark.parametrize("alg", ["HS256", "HS384"])
@pytest.mark.parametrize("encoding", ["pem", "der"])
async def test_hmac_forged_with_rsa_public_key_rejected(
    keys: Keys, provider: JWKSProvider, alg: str, encoding: str
) -> None:
    secret = keys.rsa_public_pem() if encoding == "pem" else keys.rsa_public_der()
    token = raw_token({"alg": alg, "typ": "JWT", "kid": RSA_KID}, claims(), secret)
    await rejected(token, provider, "token algorithm not accepted")


def test_jose_accepts_der_hmac_forgery_when_algorithms_not_pinned(keys: Keys) -> None:
    # Documents why verify_token always pins algorithms=[alg]: this forgery works on bare jose.
    der = keys.rsa_public_der()
    token = raw_token({"alg": "HS256", "typ": "JWT"}, claims(), der)
    assert jwt.decode(token, der, audience=AUDIENCE, issuer=ISSUER)["sub"] == "user-1"


@pytest.mark.asyncio
@pytest.mark.parametrize(("which", "alg"), [("rs256", "RS256"), ("es256", "ES256")])
async def test_jose_gets_one_key_and_one_pinned_algorithm(
    keys: Keys, provider: JWKSProvider, monkeypatch: pytest.MonkeyPatch, which: str, alg: str
) -> None:
    seen: list[tuple[Any, Any]] = []
    real_decode = verifier_module.jwt.decode

    def spy(token: str, key: Any, algorithms: Any = None, **kwargs: Any) -> Any:
        seen.append((key, algorithms))
        return real_decode(token, key, algorithms=algorithms, **kwargs)

    monkeypatch.setattr(verifier_module.jwt, "decode", spy)
    await verify(getattr(keys, which)(claims()), provider)
    [(key, algorithms)] = seen
    assert algorithms == [alg]
    assert isinstance(key, Key)  # one constructed key, never a key set or raw bytes
    assert key.is_public()


@pytest.mark.asyncio
@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES384", "ES512", "EdDSA", "rs256"])
async def test_other_algorithms_rejected(keys: Keys, provider: JWKSProvider, alg: str) -> None:
    await rejected(keys.rs256(claims(), alg=alg), provider, "token algorithm not accepted")


@pytest.mark.asyncio
async def test_header_alg_must_match_the_keys_pinned_alg(
    keys: Keys, provider: JWKSProvider
) -> None:
    # An ES256 token claiming the RSA key's kid.
    token = raw_token({"alg": "ES256", "kid": RSA_KID}, claims(), keys.ec)
    await rejected(token, provider, "token algorithm not accepted for its key")


# --- signature and integrity ------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("which", ["rs256", "es256"])
async def test_tampered_payload_rejected(keys: Keys, provider: JWKSProvider, which: str) -> None:
    token = getattr(keys, which)(claims(sub="alice"))
    header, _, sig = token.split(".")
    forged = f"{header}.{b64_json(claims(sub='mallory'))}.{sig}"
    await rejected(forged, provider, "token signature invalid")


@pytest.mark.asyncio
@pytest.mark.parametrize("which", ["rs256", "es256"])
async def test_tampered_signature_rejected(keys: Keys, provider: JWKSProvider, which: str) -> None:
    header, payload, sig = getattr(keys, which)(claims()).split(".")
    raw = bytearray(b64_decode(sig))
    raw[5] ^= 0x01
    await rejected(f"{header}.{payload}.{b64(bytes(raw))}", provider, "token signature invalid")


@pytest.mark.asyncio
async def test_token_signed_by_another_key_with_our_kid_rejected(
    keys: Keys, provider: JWKSProvider
) -> None:
    token = raw_token({"alg": "RS256", "kid": RSA_KID}, claims(), keys.other_rsa)
    await rejected(token, provider, "token signature invalid")


@pytest.mark.asyncio
async def test_non_canonical_base64_signature_rejected(keys: Keys, provider: JWKSProvider) -> None:
    # ES256 signatures are 64 bytes: the last base64 char carries 2 spare bits.
    header, payload, sig = keys.es256(claims()).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    variant = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]
    assert b64_decode(variant) == b64_decode(sig)
    await rejected(f"{header}.{payload}.{variant}", provider, "token malformed")


# --- key selection ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_kid_rejected(keys: Keys, provider: JWKSProvider) -> None:
    await rejected(
        keys.rs256(claims(), kid="rsa-key-2"), provider, "token signing key not recognised"
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "/dev/null",
        "..\\..\\windows\\win.ini",
        "' OR '1'='1' --",
        "rsa-key-1'; DROP TABLE flags; --",
        "rsa-key-1\x00",
        "rsa-key-1\n",
        "file:///etc/passwd",
        "x" * 201,
    ],
)
async def test_hostile_kid_rejected(keys: Keys, provider: JWKSProvider, kid: str) -> None:
    await rejected(keys.rs256(claims(), kid=kid), provider)


@pytest.mark.asyncio
@pytest.mark.parametrize("kid", [DROP, None, 1, ["rsa-key-1"], {"k": 1}, ""])
async def test_missing_or_non_string_kid_rejected(
    keys: Keys, provider: JWKSProvider, kid: Any
) -> None:
    header: dict[str, Any] = {"alg": "RS256", "kid": kid}
    if kid is DROP:
        del header["kid"]
    await rejected(
        raw_token(header, claims(), keys.rsa), provider, "token key id missing or malformed"
    )


@pytest.mark.asyncio
async def test_no_token_found_key_is_ever_used(keys: Keys, provider: JWKSProvider) -> None:
    # A self-signed token carrying its own key in every way the JOSE headers allow.
    attacker = keys.other_rsa
    embedded = rsa_jwk(attacker, RSA_KID)
    for extra in (
        {"jwk": embedded},
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        {"crit": ["exp"]},
    ):
        token = raw_token({"alg": "RS256", "kid": RSA_KID, **extra}, claims(), attacker)
        await rejected(token, provider, "token header parameter not accepted")
        # Even signed with the real key, the headers alone are enough to refuse.
        real = raw_token({"alg": "RS256", "kid": RSA_KID, **extra}, claims(), keys.rsa)
        await rejected(real, provider, "token header parameter not accepted")


# --- registered claims ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_expired_beyond_leeway_rejected(keys: Keys, provider: JWKSProvider) -> None:
    token = keys.rs256(claims(exp=int(time.time()) - 60))
    await rejected(token, provider, "token expired")


@pytest.mark.asyncio
async def test_expired_within_leeway_accepted(keys: Keys, provider: JWKSProvider) -> None:
    assert await verify(keys.es256(claims(exp=int(time.time()) - 10)), provider)


@pytest.mark.asyncio
async def test_nbf_in_future_rejected(keys: Keys, provider: JWKSProvider) -> None:
    token = keys.rs256(claims(nbf=int(time.time()) + 120))
    await rejected(token, provider, "token not yet valid")


@pytest.mark.asyncio
async def test_nbf_within_leeway_accepted(keys: Keys, provider: JWKSProvider) -> None:
    assert await verify(keys.rs256(claims(nbf=int(time.time()) + 10)), provider)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "overrides",
    [{"aud": "someone-else"}, {"aud": ["a", "b"]}, {"aud": DROP}, {"aud": 7}, {"aud": [7]}],
)
async def test_wrong_or_missing_audience_rejected(
    keys: Keys, provider: JWKSProvider, overrides: dict[str, Any]
) -> None:
    await rejected(keys.rs256(claims(**overrides)), provider)


@pytest.mark.asyncio
@pytest.mark.parametrize("iss", ["https://evil.example/", ISSUER + "/", DROP, None, [ISSUER]])
async def test_wrong_or_missing_issuer_rejected(
    keys: Keys, provider: JWKSProvider, iss: Any
) -> None:
    await rejected(keys.es256(claims(iss=iss)), provider)


@pytest.mark.asyncio
async def test_missing_exp_rejected(keys: Keys, provider: JWKSProvider) -> None:
    await rejected(keys.rs256(claims(exp=DROP)), provider, "token is missing a required claim")


@pytest.mark.asyncio
async def test_missing_sub_rejected(keys: Keys, provider: JWKSProvider) -> None:
    await rejected(keys.rs256(claims(sub=DROP)), provider, "token is missing a required claim")


@pytest.mark.asyncio
@pytest.mark.parametrize("sub", ["", 42, None, ["a"], "x" * 201, "line\nbreak"])
async def test_malformed_sub_rejected(keys: Keys, provider: JWKSProvider, sub: Any) -> None:
    await rejected(keys.rs256(claims(sub=sub)), provider)


@pytest.mark.asyncio
@pytest.mark.parametrize("exp", ["9999999999", None, [9999999999], {"t": 1}, True, False, "soon"])
async def test_malformed_exp_rejected(keys: Keys, provider: JWKSProvider, exp: Any) -> None:
    # jose alone accepts the string "9999999999" and raises a bare TypeError on null.
    await rejected(keys.rs256(claims(exp=exp)), provider)


@pytest.mark.asyncio
async def test_fractional_exp_accepted(keys: Keys, provider: JWKSProvider) -> None:
    # NumericDate may be non-integral (RFC 7519 section 2).
    assert await verify(keys.rs256(claims(exp=time.time() + 300.5)), provider)


def test_jose_leaks_non_jose_errors_for_odd_exp(keys: Keys) -> None:
    # Why _decode also catches TypeError/OverflowError: bare jose raises them.
    key = keys.rsa_public_pem()
    for exp_json, error in (("null", TypeError), ("1e400", OverflowError)):
        payload = json.dumps(claims(exp=DROP))[:-1] + f',"exp":{exp_json}}}'
        with pytest.raises(error):
            jwt.decode(keys.rs256(payload), key, algorithms=["RS256"], audience=AUDIENCE)


@pytest.mark.asyncio
@pytest.mark.parametrize("exp_json", ["null", "1e400", "-1e400", '"1e10"'])
async def test_exp_json_edge_cases_rejected(
    keys: Keys, provider: JWKSProvider, exp_json: str
) -> None:
    payload = json.dumps(claims(exp=DROP))[:-1] + f',"exp":{exp_json}}}'
    await rejected(keys.rs256(payload), provider)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["nbf", "iat"])
async def test_malformed_nbf_iat_rejected(keys: Keys, provider: JWKSProvider, name: str) -> None:
    await rejected(keys.rs256(claims(**{name: "0"})), provider)


# --- shape ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_oversized_token_rejected(keys: Keys, provider: JWKSProvider) -> None:
    token = keys.rs256(claims(pad="x" * MAX_TOKEN_LENGTH))
    assert len(token) > MAX_TOKEN_LENGTH
    await rejected(token, provider, "token too large")


@pytest.mark.asyncio
async def test_jwe_compact_token_rejected(provider: JWKSProvider) -> None:
    header = b64_json({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": RSA_KID})
    token = ".".join([header, "ZW5jcnlwdGVka2V5", "aXY", "Y2lwaGVydGV4dA", "dGFn"])
    await rejected(token, provider, "encrypted tokens are not accepted")


@pytest.mark.asyncio
async def test_three_part_token_with_enc_header_rejected(
    keys: Keys, provider: JWKSProvider
) -> None:
    await rejected(
        keys.rs256(claims(), enc="A256GCM"), provider, "encrypted tokens are not accepted"
    )


@pytest.mark.asyncio
async def test_duplicate_header_members_rejected(keys: Keys, provider: JWKSProvider) -> None:
    header = b64(f'{{"alg":"RS256","kid":"{RSA_KID}","kid":"{EC_KID}"}}'.encode())
    good = keys.rs256(claims())
    token = f"{header}.{good.split('.', 1)[1]}"
    await rejected(token, provider, "token header malformed")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e.f",
        "..",
        "e30.e30.",
        "e30.e30.e30",
        "bnVsbA.e30.c2ln",  # header is JSON null
        "W10.e30.c2ln",  # header is a JSON array
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",  # no kid
        "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1rZXktMSJ9.bm90IGpzb24.c2ln",  # payload not JSON
        "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1rZXktMSJ9.W10.c2ln",  # payload is an array
        "eyJ hbGci.e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9=.e30.c2ln",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        "é.é.é",
        "\x00.\x00.\x00",
        "A" * 5 + "." + "A" * 5 + "." + "A" * 5,
        ".".join(["A"] * 100),
        "eyJ" + "A" * 20 + ".e30.c2ln",
    ],
)
async def test_garbage_tokens_rejected(provider: JWKSProvider, token: str) -> None:
    await rejected(token, provider)


@pytest.mark.asyncio
async def test_deeply_nested_json_rejected_cleanly(keys: Keys, provider: JWKSProvider) -> None:
    nested = b64(("[" * 4000 + "]" * 4000).encode())
    header = b64_json({"alg": "RS256", "kid": RSA_KID})
    await rejected(f"{header}.{nested}.c2ln", provider)
    await rejected(f"{nested}.e30.c2ln", provider)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [None, 12, b"bytes", ["a.b.c"]])
async def test_non_string_token_rejected(provider: JWKSProvider, value: Any) -> None:
    with pytest.raises(Unauthorized):
        await verify_token(value, provider, issuer=ISSUER, audience=AUDIENCE)


@pytest.mark.asyncio
@pytest.mark.parametrize(("issuer", "audience"), [("", AUDIENCE), (ISSUER, "")])
async def test_empty_expected_issuer_or_audience_fails_closed(
    keys: Keys, provider: JWKSProvider, issuer: str, audience: str
) -> None:
    token = keys.rs256(claims(iss="", aud=""))
    with pytest.raises(Unauthorized):
        await verify_token(token, provider, issuer=issuer, audience=audience)


@pytest.mark.asyncio
async def test_empty_key_set_rejects_everything(keys: Keys) -> None:
    await rejected(
        keys.rs256(claims()), JWKSProvider(keys=KeySet()), "token signing key not recognised"
    )


@pytest.mark.asyncio
async def test_ignored_jwk_is_not_used(keys: Keys) -> None:
    # The RSA key declares RS512, so it is not pinned to RS256 and must be skipped.
    doc = {"keys": [rsa_jwk(keys.rsa, RSA_KID, alg="RS512"), ec_jwk(keys.ec, EC_KID)]}
    only_ec = JWKSProvider(keys=load_jwks(doc))
    await rejected(keys.rs256(claims()), only_ec, "token signing key not recognised")
    assert await verify(keys.es256(claims()), only_ec)


# --- Authorization header ---------------------------------------------------------------


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"
    for bad in (None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "abc.def.ghi", "Bearer a b"):
        with pytest.raises(Unauthorized):
            bearer_token(bad)


# --- nothing but Unauthorized escapes ---------------------------------------------------


def _mutations(token: str, rng: random.Random) -> str:
    chars = list(token)
    match rng.randrange(6):
        case 0:  # flip characters anywhere
            for _ in range(rng.randint(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice("Aa0_-.=+/ \x00é")
            return "".join(chars)
        case 1:  # truncate
            return token[: rng.randrange(len(token))]
        case 2:  # swap or duplicate segments
            parts = token.split(".")
            return ".".join(rng.choice(parts) for _ in range(rng.choice([2, 3, 3, 4, 5])))
        case 3:  # replace the header with random JSON-ish junk
            junk = rng.choice(['{"alg":"RS256"}', '{"alg":null,"kid":1}', "{}", "1", '"x"', "{"])
            return b64(junk.encode()) + token[token.index(".") :]
        case 4:  # replace the payload with odd JSON
            payload = rng.choice(['{"exp":null}', '{"exp":"1"}', "[]", "1e999", '{"sub":{}}'])
            head, _, sig = token.split(".")
            return f"{head}.{b64(payload.encode())}.{sig}"
        case _:
            return token + rng.choice([".", "..", "=", " ", "A"])


@pytest.mark.asyncio
async def test_mutated_tokens_only_ever_raise_unauthorized(
    keys: Keys, provider: JWKSProvider
) -> None:
    rng = random.Random(20240607)
    originals = [keys.rs256(claims()), keys.es256(claims())]
    accepted, echoed = [], []
    for _ in range(1500):
        token = _mutations(rng.choice(originals), rng)
        try:
            await verify(token, provider)
            accepted.append(token)
        except Unauthorized as exc:
            if len(token) >= 8 and token in exc.detail:
                echoed.append(token)
    assert echoed == []
    # A mutation may only pass if it happened to reproduce the original token exactly.
    assert set(accepted) <= set(originals)
