"""Calling the FHIR facade and checking its answers with a third-party FHIR model library."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitionerrole import PractitionerRole

from tests.conftest import bearer

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SPINE = "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
FHIR_JSON = "application/fhir+json"

MODELS: dict[str, Any] = {
    "Bundle": Bundle,
    "CareTeam": CareTeam,
    "AuditEvent": AuditEvent,
    "PractitionerRole": PractitionerRole,
    "CapabilityStatement": CapabilityStatement,
    "OperationOutcome": OperationOutcome,
    "Organization": Organization,
}


def validated(response: httpx.Response) -> dict[str, Any]:
    """The body, after the FHIR library has parsed it and every resource inside it."""
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    # The library does not descend into entry.resource or contained: check each one.
    resources = [body] + [entry["resource"] for entry in body.get("entry", [])]
    for resource in list(resources):
        resources.extend(resource.get("contained", []))
    for resource in resources:
        MODELS[resource["resourceType"]].model_validate(resource)
    return body


def identifier(nhs: str, system: str = NHS_SYSTEM) -> str:
    return f"{system}|{nhs}"


async def search(
    client: httpx.AsyncClient,
    resource: str,
    token: str | None,
    params: dict[str, str] | list[tuple[str, str]] | None = None,
    **headers: str,
) -> httpx.Response:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if token is not None:
        sent.update(bearer(token))
    return await client.get(f"/fhir/R4/{resource}", params=params, headers=sent)


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def spine_code(outcome: dict[str, Any]) -> str:
    coding = outcome["issue"][0]["details"]["coding"][0]
    assert coding["system"] == SPINE
    code: str = coding["code"]
    return code
