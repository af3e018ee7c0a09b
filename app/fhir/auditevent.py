"""The access history as AuditEvent resources, each agent a PractitionerRole.

An AuditEvent records one unscheduled look: a RESTful search (type ``rest``,
subtype ``search-type``) recorded when it happened, by a user acting in a role at
an organisation (ODS code), about the patient (NHS number), under a request id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from app.fhir.bundle import (
    AUDIT_EVENT_PROFILE,
    ODS_CODE_SYSTEM,
    ORGANIZATION_PROFILE,
    PRACTITIONER_ROLE_PROFILE,
    Resource,
    new_id,
    searchset,
)
from app.fhir.careteam import search_url
from app.fhir.search import INCLUDE, INCLUDE_AGENT, NHS_NUMBER_SYSTEM
from app.lookup.history import HistoryEntry

AUDIT_EVENT_TYPE: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
SEARCH_TYPE: Final = {
    "system": "http://hl7.org/fhir/restful-interaction",
    "code": "search-type",
    "display": "search type",
}
ASSIGNED_ENTITY: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
    "code": "ASSIGNED",
    "display": "assigned entity",
}
PATIENT_ENTITY_TYPE: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
    "code": "1",
    "display": "Person",
}
PATIENT_ENTITY_ROLE: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/object-role",
    "code": "1",
    "display": "Patient",
}
# IHE Basic Audit Log Patterns: the request's X-Request-ID as an entity.
REQUEST_ID_ENTITY_TYPE: Final = {
    "system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
    "code": "XrequestId",
}
OBSERVER: Final = {"display": "cpis"}

AgentKey = tuple[str | None, str | None, str | None, str | None, str | None]


def _organization(access: HistoryEntry, resource_id: str) -> Resource:
    organization: Resource = {
        "resourceType": "Organization",
        "id": resource_id,
        "meta": {"profile": [ORGANIZATION_PROFILE]},
    }
    if access.org_code:
        organization["identifier"] = [{"system": ODS_CODE_SYSTEM, "value": access.org_code}]
    if access.org_name:
        organization["name"] = access.org_name
    return organization


def practitioner_role(access: HistoryEntry, resource_id: str, organization_id: str) -> Resource:
    """The user who looked: name, role and (by reference) organisation."""
    role: Resource = {
        "resourceType": "PractitionerRole",
        "id": resource_id,
        "meta": {"profile": [PRACTITIONER_ROLE_PROFILE]},
        "organization": {"reference": f"#{organization_id}"},
    }
    if access.user_name:
        role["practitioner"] = {"display": access.user_name}
    if access.role_name:
        role["code"] = [{"text": access.role_name}]
    if access.org_name:
        role["organization"]["display"] = access.org_name
    return role


def _entities(access: HistoryEntry, nhs_number: str) -> list[dict[str, Any]]:
    patient: dict[str, Any] = {
        "what": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}},
        "type": PATIENT_ENTITY_TYPE,
        "role": PATIENT_ENTITY_ROLE,
    }
    if access.care_setting:
        patient["detail"] = [{"type": "care-setting", "valueString": access.care_setting}]
    entities = [patient]
    if access.request_id:
        entities.append(
            {"what": {"identifier": {"value": access.request_id}}, "type": REQUEST_ID_ENTITY_TYPE}
        )
    return entities


def audit_event(access: HistoryEntry, nhs_number: str, agent_reference: str) -> Resource:
    """One listed access; ``agent_reference`` points at its PractitionerRole."""
    agent: dict[str, Any] = {
        "type": {"coding": [ASSIGNED_ENTITY]},
        "who": {"reference": agent_reference},
        "requestor": True,
    }
    if access.user_name:
        agent["name"] = access.user_name
    if access.role_name:
        agent["role"] = [{"text": access.role_name}]
    return {
        "resourceType": "AuditEvent",
        "id": new_id(),
        "meta": {"profile": [AUDIT_EVENT_PROFILE]},
        "type": AUDIT_EVENT_TYPE,
        "subtype": [SEARCH_TYPE],
        "action": "E",
        "recorded": access.accessed_at.isoformat(),
        "outcome": "0",
        "agent": [agent],
        "source": {"observer": OBSERVER},
        "entity": _entities(access, nhs_number),
    }


def _with_contained_agent(access: HistoryEntry, nhs_number: str) -> Resource:
    event = audit_event(access, nhs_number, "#agent")
    event["contained"] = [
        practitioner_role(access, "agent", "organization"),
        _organization(access, "organization"),
    ]
    return event


def _agent_key(access: HistoryEntry) -> AgentKey:
    return (access.actor_id, access.user_name, access.role_name, access.org_code, access.org_name)


def _with_included_agents(
    accesses: Sequence[HistoryEntry], nhs_number: str
) -> tuple[list[Resource], list[Resource]]:
    """Events referencing one included PractitionerRole per distinct user, role and place."""
    roles: dict[AgentKey, Resource] = {}
    events = []
    for access in accesses:
        key = _agent_key(access)
        if key not in roles:
            role = practitioner_role(access, new_id(), "organization")
            role["contained"] = [_organization(access, "organization")]
            roles[key] = role
        events.append(audit_event(access, nhs_number, f"urn:uuid:{roles[key]['id']}"))
    return events, list(roles.values())


def audit_event_bundle(
    accesses: Sequence[HistoryEntry], nhs_number: str, base_url: str, *, include_agents: bool
) -> Resource:
    """The access history as a searchset, newest first, agents contained or included."""
    if include_agents:
        events, roles = _with_included_agents(accesses, nhs_number)
        url = search_url(base_url, "AuditEvent", nhs_number, f"{INCLUDE}={INCLUDE_AGENT}")
        return searchset(url, events, roles)
    events = [_with_contained_agent(access, nhs_number) for access in accesses]
    return searchset(search_url(base_url, "AuditEvent", nhs_number), events)
