"""Bad input is a clear 4xx, never a 5xx: size, depth, hostile text, unbounded fields.

The text checks run over every route in ``catalogue.POLICY`` that takes a JSON body and
every one of its text fields, and the schema checks over the whole OpenAPI document, so
routes added later are covered without new tests.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Tokens, bearer
from tests.security.catalogue import CLINICIAN_B0107, LOOKUP_BODY, POLICY, token_for, url_of

# name -> the raw JSON text of a string value carrying it
HOSTILE_TEXT = {
    "NUL": r'"99967\u000004874"',
    "raw control character": '"9996704874\x07"',
    "right-to-left override": r'"\u202e9996704874"',
    "right-to-left mark": r'"9996704874\u200f"',
    "lone high surrogate": r'"9996704874\ud800"',
    "lone low surrogate": r'"\udc009996704874"',
    "byte-order mark": r'"\ufeff9996704874"',
}
JSON_ROUTES = [(m, p) for (m, p), policy in POLICY.items() if policy.json is not None]


def _poisoned(body: dict[str, Any], field: str, raw_value: str) -> bytes:
    marker = "__POISON__"
    text = json.dumps({**body, field: marker})
    return text.replace(json.dumps(marker), raw_value).encode()


def _cases() -> Iterator[tuple[str, str, str, str]]:
    for method, path in JSON_ROUTES:
        for field in POLICY[(method, path)].text_fields:
            for name in HOSTILE_TEXT:
                yield method, path, field, name


def test_the_pattern_bound_is_read_correctly() -> None:
    assert _bounded_pattern(r"^E[0-9]{8}$")
    assert _bounded_pattern(r"^\+?[0-9][0-9 ().-]{2,30}$")
    assert not _bounded_pattern(r"^[0-9]+$")
    assert not _bounded_pattern(r"^a{2,}$")
    assert not _bounded_pattern(r"^[A-Z]{2}.*$")
    assert not _bounded_pattern(r"[0-9]{3}")


@pytest.mark.parametrize(("method", "path", "field", "oddity"), list(_cases()))
async def test_hostile_text_in_any_field_is_a_clear_422(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    method: str,
    path: str,
    field: str,
    oddity: str,
) -> None:
    policy = POLICY[(method, path)]
    assert policy.json is not None
    response = await client.request(
        method,
        url_of(path, policy),
        content=_poisoned(policy.json, field, HOSTILE_TEXT[oddity]),
        headers={
            **bearer(token_for(tokens, CLINICIAN_B0107) or ""),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] in ("invalid-request", "invalid-nhs-number")
    assert problem["detail"]
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


@pytest.fixture
def lookup(tokens: Tokens) -> dict[str, Any]:
    return {
        "url": "/v1/lookups",
        "headers": {**bearer(tokens.clinician()), "Content-Type": "application/json"},
    }


async def test_overlong_utf8_is_refused_as_not_utf8(
    client: httpx.AsyncClient, lookup: dict[str, Any]
) -> None:
    body = b'{"nhs_number": "9996704874\xc0\xaf", "care_setting": "other"}'
    response = await client.post(content=body, **lookup)
    assert response.status_code == 422
    assert "UTF-8" in response.json()["detail"]


async def test_a_body_over_the_limit_is_413_before_parsing(
    client: httpx.AsyncClient, lookup: dict[str, Any], owner_db: asyncpg.Connection
) -> None:
    body = json.dumps({**LOOKUP_BODY, "padding": "x" * 70_000}).encode()
    response = await client.post(content=body, **lookup)
    assert response.status_code == 413
    assert response.json()["code"] == "payload-too-large"
    assert response.headers["X-Request-ID"]
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_a_chunked_body_without_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, lookup: dict[str, Any]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = await client.post(content=chunks(), **lookup)
    assert response.status_code == 413


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient, lookup: dict[str, Any]
) -> None:
    headers = {**lookup["headers"], "Content-Length": "10000000"}
    response = await client.post(lookup["url"], content=b"{}", headers=headers)
    assert response.status_code == 413


async def test_deeply_nested_json_is_refused_with_a_clear_message(
    client: httpx.AsyncClient, lookup: dict[str, Any]
) -> None:
    nested = "[" * 5000 + "]" * 5000
    body = f'{{"nhs_number": "9996704874", "care_setting": "other", "x": {nested}}}'
    response = await client.post(content=body.encode(), **lookup)
    assert response.status_code == 422
    assert "nested" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'"text"', b"null", b'{"nhs_number": 9996704874, "care_setting": "other"}'],
)
async def test_malformed_or_mistyped_json_is_422_not_500(
    client: httpx.AsyncClient, lookup: dict[str, Any], body: bytes
) -> None:
    response = await client.post(content=body, **lookup)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"


async def test_hostile_text_in_the_query_string_is_refused(client: httpx.AsyncClient) -> None:
    for query in ("x=%00", "x=%E2%80%AE", "x=%C0%AF", "%00=1"):
        response = await client.get(f"/healthz?{query}")
        assert response.status_code == 422, query


async def test_unknown_paths_and_methods_answer_problem_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/no-such-thing")
    assert (missing.status_code, missing.json()["code"]) == (404, "not-found")
    wrong = await client.get("/v1/lookups")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method-not-allowed")
    assert wrong.headers["Allow"] == "POST"


def _strings(schema: dict[str, Any], spec: dict[str, Any], where: str) -> Iterator[tuple]:
    """Every string schema reachable from ``schema``, with a readable location."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from _strings(spec["components"]["schemas"][name], spec, f"{where}<{name}>")
        return
    if schema.get("type") == "string":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            yield from _strings(sub, spec, f"{where}/{key}{i}")
    for name, sub in schema.get("properties", {}).items():
        yield from _strings(sub, spec, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _strings(schema["items"], spec, f"{where}[]")


def _bounded_pattern(pattern: str | None) -> bool:
    """An anchored pattern whose every repetition has an upper bound (``^E[0-9]{8}$``)."""
    if not pattern or not (pattern.startswith("^") and pattern.endswith("$")):
        return False
    bare = re.sub(r"\\.", "", pattern)  # escapes first, so \[ and \+ are literals
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # then character classes, [+*] included
    return not re.search(r"[*+]|\{[0-9]*,\}", bare)


def _unbounded(s: dict[str, Any]) -> bool:
    return not ({"maxLength", "enum", "format"} & s.keys() or _bounded_pattern(s.get("pattern")))


async def test_every_input_string_and_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    unbounded, bad_limits = [], []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            inputs = [
                (f"{method} {path} {p['in']}:{p['name']}", p.get("schema", {}))
                for p in op.get("parameters", [])
            ]
            for media in op.get("requestBody", {}).get("content", {}).values():
                inputs.append((f"{method} {path} body", media.get("schema", {})))
            for where, schema in inputs:
                for loc, s in _strings(schema, spec, where):
                    if _unbounded(s):
                        unbounded.append(loc)
            for p in op.get("parameters", []):
                s = p.get("schema", {})
                if p["name"] == "limit" and (s.get("minimum") != 1 or s.get("maximum") != 1000):
                    bad_limits.append(f"{method} {path}")
    assert unbounded == []
    assert bad_limits == []


async def test_hostile_text_in_a_fhir_query_is_an_operation_outcome(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    # FHIR clients parse OperationOutcome, never problem+json, even for the edge guard.
    response = await client.get(
        "/fhir/R4/CareTeam?patient:identifier=%E2%80%AE9996704874",
        headers=bearer(tokens.clinician()),
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    coding = response.json()["issue"][0]["details"]["coding"][0]
    assert coding["code"] == "INVALID_SEARCH_DATA"


@pytest.mark.parametrize(
    "name",
    ["Саmden", " Camden", "Camden ", "Cam\u200bden", "Camden\u2028"],  # Cyrillic С and а first
)
async def test_an_authority_name_is_plain_latin_text(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, name: str
) -> None:
    response = await client.put(
        "/v1/local-authorities/E09000007", json={"name": name}, headers=bearer(tokens.admin())
    )
    assert response.status_code == 422
    stored = await owner_db.fetchval("SELECT name FROM local_authorities WHERE code = 'E09000007'")
    assert stored == "Camden"


@pytest.mark.parametrize(
    ("url", "param", "raw"),
    [
        ("/v1/notifications", "after", f"{'9' * 40}:1"),
        ("/v1/uploads", "cursor", f"u1:{'9' * 40}"),
        ("/v1/local-authorities/E09000007/deliveries", "cursor", "9" * 40),
    ],
)
async def test_a_forged_cursor_beyond_bigint_is_422_not_a_database_error(
    client: httpx.AsyncClient, tokens: Tokens, url: str, param: str, raw: str
) -> None:
    token = tokens.admin() if "deliveries" in url else tokens.la()
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = await client.get(url, params={param: cursor}, headers=bearer(token))
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/v1/notifications", "after"),
        ("/v1/uploads", "cursor"),
        ("/v1/local-authorities", "cursor"),
        ("/v1/local-authorities/E09000007/deliveries", "cursor"),
    ],
)
async def test_an_empty_cursor_asks_for_the_first_page(
    client: httpx.AsyncClient, tokens: Tokens, url: str, param: str
) -> None:
    token = tokens.admin() if url.startswith("/v1/local-authorities") else tokens.la()
    first = await client.get(url, params={"limit": 2}, headers=bearer(token))
    empty = await client.get(url, params={param: "", "limit": 2}, headers=bearer(token))
    assert (first.status_code, empty.status_code) == (200, 200)
    assert empty.json() == first.json()
