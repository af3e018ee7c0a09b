"""FHIR errors are OperationOutcomes with NHS Spine codes; /v1 keeps problem+json."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.conftest import Tokens, bearer
from tests.fhir.fhir_support import identifier, search, spine_code, validated
from tests.support import CHILD_A, add_plan

GOOD = identifier(CHILD_A)


@pytest.mark.parametrize("resource", ["CareTeam", "AuditEvent"])
@pytest.mark.parametrize(
    ("params", "issue"),
    [
        ([], "invalid"),  # no NHS number at all
        ([("patient:identifier", "")], "invalid"),
        ([("patient:identifier", CHILD_A)], "invalid"),  # no system
        ([("patient:identifier", f"|{CHILD_A}")], "invalid"),
        ([("patient:identifier", identifier(CHILD_A, "https://example.org/id"))], "invalid"),
        ([("patient:identifier", identifier("9996704875"))], "invalid"),  # check digit
        ([("patient:identifier", identifier("99967O4874"))], "invalid"),
        ([("patient:identifier", identifier("9" * 40))], "invalid"),
        ([("patient:identifier", GOOD), ("patient:identifier", GOOD)], "invalid"),
        ([("patient:identifier", GOOD), ("name", "Smith")], "not-supported"),
        ([("patient.identifier", GOOD)], "not-supported"),
        ([("patient:identifier", GOOD)] + [("x", "1")] * 20, "too-costly"),
    ],
)
async def test_bad_search_is_invalid_search_data_and_reads_nothing(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    resource: str,
    params: list[tuple[str, str]],
    issue: str,
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await search(client, resource, tokens.clinician(), params)
    assert response.status_code == 400
    outcome = validated(response)
    assert spine_code(outcome) == "INVALID_SEARCH_DATA"
    assert outcome["issue"][0]["code"] == issue
    assert CHILD_A not in response.text
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_unsupported_include_is_invalid_search_data(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    params = [("patient:identifier", GOOD), ("_include", "AuditEvent:entity")]
    response = await search(client, "AuditEvent", tokens.clinician(), params)
    assert (response.status_code, spine_code(validated(response))) == (400, "INVALID_SEARCH_DATA")


@pytest.mark.parametrize("resource", ["CareTeam", "AuditEvent"])
@pytest.mark.parametrize(
    "headers",
    [
        {"IsUnscheduledAccessEvent": "yes"},
        {"IsUnscheduledAccessEvent": "True"},  # case-sensitive, as JSON booleans are
        {"IsUnscheduledAccessEvent": ""},
        {"X-Care-Setting": "ward"},
        {"X-Care-Setting": "Emergency-Department"},
    ],
)
async def test_bad_header_is_precondition_failed(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    resource: str,
    headers: dict[str, str],
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await client.get(
        f"/fhir/R4/{resource}",
        params={"patient:identifier": GOOD},
        headers={**bearer(tokens.clinician()), **headers},
    )
    assert response.status_code == 400
    assert spine_code(validated(response)) == "PRECONDITION_FAILED"
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_repeated_header_is_precondition_failed(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = [
        ("Authorization", f"Bearer {tokens.clinician()}"),
        ("IsUnscheduledAccessEvent", "false"),
        ("IsUnscheduledAccessEvent", "true"),
    ]
    response = await client.get(
        "/fhir/R4/CareTeam", params={"patient:identifier": GOOD}, headers=headers
    )
    assert (response.status_code, spine_code(validated(response))) == (400, "PRECONDITION_FAILED")


@pytest.mark.parametrize("resource", ["CareTeam", "AuditEvent"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic abc"])
async def test_missing_or_invalid_token_is_401_with_an_operation_outcome(
    client: httpx.AsyncClient,
    owner_db: asyncpg.Connection,
    resource: str,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get(
        f"/fhir/R4/{resource}", params={"patient:identifier": GOOD}, headers=headers
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    outcome = validated(response)
    assert (spine_code(outcome), outcome["issue"][0]["code"]) == ("ACCESS_DENIED", "login")
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0


@pytest.mark.parametrize("resource", ["CareTeam", "AuditEvent"])
async def test_service_token_is_access_denied_and_audited(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, resource: str
) -> None:
    response = await search(
        client, resource, tokens.la(), {"patient:identifier": GOOD}, TraceID="t-403"
    )
    assert response.status_code == 403
    outcome = validated(response)
    assert (spine_code(outcome), outcome["issue"][0]["code"]) == ("ACCESS_DENIED", "forbidden")
    row = await owner_db.fetchrow("SELECT kind, request_id, detail FROM audit_events")
    assert (row["kind"], row["request_id"]) == ("access-denied", "t-403")
    assert f"/fhir/R4/{resource}" in row["detail"]


@pytest.mark.parametrize("resource", ["CareTeam", "AuditEvent"])
async def test_role_without_cpis_activity_is_access_denied(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, resource: str
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await search(
        client, resource, tokens.clinician(("B0999",)), {"patient:identifier": GOOD}
    )
    assert (response.status_code, spine_code(validated(response))) == (403, "ACCESS_DENIED")
    assert CHILD_A not in response.text
    kinds = [r["kind"] for r in await owner_db.fetch("SELECT kind FROM audit_events")]
    assert kinds == ["access-denied"]


async def test_b0170_asking_for_an_unscheduled_access_is_access_denied(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await search(
        client,
        "CareTeam",
        tokens.clinician(("B0170",)),
        {"patient:identifier": GOOD},
        IsUnscheduledAccessEvent="true",
    )
    assert (response.status_code, spine_code(validated(response))) == (403, "ACCESS_DENIED")
    kinds = [r["kind"] for r in await owner_db.fetch("SELECT kind FROM audit_events")]
    assert kinds == ["access-denied"]
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["CareTeam", "AuditEvent", "metadata"])
async def test_unsupported_method_is_405_with_an_operation_outcome(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str
) -> None:
    response = await client.request(method, f"/fhir/R4/{path}", headers=bearer(tokens.clinician()))
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    outcome = validated(response)
    assert (spine_code(outcome), outcome["issue"][0]["code"]) == (
        "UNSUPPORTED_SERVICE",
        "not-supported",
    )


@pytest.mark.parametrize("path", ["/fhir/R4/Patient", "/fhir/R4/CareTeam/123", "/fhir/R5/CareTeam"])
async def test_unknown_fhir_endpoint_is_404_with_an_operation_outcome(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert spine_code(validated(response)) == "UNSUPPORTED_SERVICE"


async def test_database_failure_is_503_with_no_plan_data(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    await owner_db.execute("REVOKE INSERT ON audit_events FROM cpis_app")
    response = await search(client, "CareTeam", tokens.clinician(), {"patient:identifier": GOOD})
    assert response.status_code == 503
    outcome = validated(response)
    assert (spine_code(outcome), outcome["issue"][0]["code"]) == (
        "UNABLE_TO_CALL_SERVICE",
        "transient",
    )
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Camden" not in response.text


async def test_native_api_errors_stay_problem_json(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    unauthenticated = await client.post("/v1/lookups", json={})
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"
    assert unauthenticated.json()["code"] == "unauthorized"
    missing = await client.get("/v1/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not-found"
    wrong_method = await client.get("/v1/lookups")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
    assert wrong_method.json()["code"] == "method-not-allowed"
    assert wrong_method.headers["allow"] == "POST"
