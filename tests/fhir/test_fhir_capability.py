"""GET /fhir/R4/metadata: a CapabilityStatement listing exactly what is implemented."""

from __future__ import annotations

import httpx

from tests.fhir.fhir_support import validated


async def test_metadata_needs_no_token_and_is_a_valid_capability_statement(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/fhir/R4/metadata")
    assert response.status_code == 200
    statement = validated(response)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["format"] == ["application/fhir+json"]
    [rest] = statement["rest"]
    assert rest["mode"] == "server"
    by_type = {r["type"]: r for r in rest["resource"]}
    assert set(by_type) == {"CareTeam", "AuditEvent"}
    for resource in by_type.values():
        assert resource["interaction"] == [{"code": "search-type"}]
        assert [p["name"] for p in resource["searchParam"]] == ["patient:identifier"]
    assert "searchInclude" not in by_type["CareTeam"]
    assert "AuditEvent:agent" in by_type["AuditEvent"]["searchInclude"]


async def test_capability_statement_matches_the_routes_that_exist(
    client: httpx.AsyncClient,
) -> None:
    statement = validated(await client.get("/fhir/R4/metadata"))
    listed = {f"/fhir/R4/{r['type']}" for r in statement["rest"][0]["resource"]}
    paths = (await client.get("/openapi.json")).json()["paths"]
    routes = {path: set(ops) for path, ops in paths.items() if path.startswith("/fhir/")}
    assert set(routes) == listed | {"/fhir/R4/metadata"}
    assert all(methods == {"get"} for methods in routes.values())
