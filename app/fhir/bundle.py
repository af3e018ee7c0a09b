"""Searchset Bundles and the identifiers every FHIR resource here shares."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

UK_CORE: Final = "https://fhir.hl7.org.uk/StructureDefinition/"
CARE_TEAM_PROFILE: Final = UK_CORE + "UKCore-CareTeam"
AUDIT_EVENT_PROFILE: Final = UK_CORE + "UKCore-AuditEvent"
PRACTITIONER_ROLE_PROFILE: Final = UK_CORE + "UKCore-PractitionerRole"
ORGANIZATION_PROFILE: Final = UK_CORE + "UKCore-Organization"
ODS_CODE_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"

Resource = dict[str, Any]
SearchMode = Literal["match", "include"]


def new_id() -> str:
    """A resource id for one response: the facade answers searches, never reads by id."""
    return str(uuid.uuid4())


def entry(resource: Resource, mode: SearchMode) -> Resource:
    """A Bundle entry whose fullUrl is the resource's urn:uuid (no read endpoint exists)."""
    return {
        "fullUrl": f"urn:uuid:{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset(
    self_url: str, matches: Sequence[Resource], includes: Sequence[Resource] = ()
) -> Resource:
    """A searchset Bundle; ``total`` counts matches only, as FHIR defines it."""
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": datetime.now(UTC).isoformat()},
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
    }
    entries = [entry(r, "match") for r in matches] + [entry(r, "include") for r in includes]
    if entries:  # FHIR JSON never carries an empty array
        bundle["entry"] = entries
    return bundle
