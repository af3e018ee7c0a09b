"""The CapabilityStatement: exactly what the facade implements, nothing more."""

from __future__ import annotations

from typing import Final

from app.fhir.bundle import AUDIT_EVENT_PROFILE, CARE_TEAM_PROFILE, Resource
from app.fhir.search import (
    INCLUDE_AGENT,
    INCLUDE_AGENT_NHS_ALIAS,
    NHS_NUMBER_SYSTEM,
    PATIENT_IDENTIFIER,
)

FHIR_VERSION: Final = "4.0.1"
FHIR_JSON: Final = "application/fhir+json"
# The date this statement last changed; bump it with the statement.
STATEMENT_DATE: Final = "2026-11-27"

_PATIENT_PARAMETER: Final = {
    "name": PATIENT_IDENTIFIER,
    "type": "token",
    "documentation": f"Required, exactly once: {NHS_NUMBER_SYSTEM}|<10-digit NHS number>.",
}
_HEADERS: Final = (
    "Headers: IsUnscheduledAccessEvent (true or false; absent: true for B0107 roles, "
    "false for B0170), X-Care-Setting (a care setting, default other), TraceID "
    "(stored as the request id)."
)


def capability_statement(software_version: str) -> Resource:
    """Searches on CareTeam and AuditEvent by patient:identifier, JSON only, bearer tokens."""
    return {
        "resourceType": "CapabilityStatement",
        "id": "cpis",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "cpis",
        "kind": "instance",
        "software": {"name": "cpis", "version": software_version},
        "implementation": {
            "description": "cpis FHIR R4 facade, compatible with NHS England's CP-IS FHIR API"
        },
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer <CIS2-shaped JWT>; the selected "
                    "role needs activity B0107 or B0170."
                },
                "resource": [
                    {
                        "type": "CareTeam",
                        "profile": CARE_TEAM_PROFILE,
                        "documentation": "One CareTeam per visible plan; each search is an "
                        "audited lookup. " + _HEADERS,
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [_PATIENT_PARAMETER],
                    },
                    {
                        "type": "AuditEvent",
                        "profile": AUDIT_EVENT_PROFILE,
                        "documentation": "The 25 most recent unscheduled accesses, newest "
                        "first; reading them is audited but is not an access.",
                        "interaction": [{"code": "search-type"}],
                        "searchInclude": [INCLUDE_AGENT, INCLUDE_AGENT_NHS_ALIAS],
                        "searchParam": [_PATIENT_PARAMETER],
                    },
                ],
            }
        ],
    }
