"""A lookup's plans as CareTeam resources (CONTRACT §4, NHS England's CP-IS mapping)."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from app.fhir.bundle import CARE_TEAM_PROFILE, Resource, new_id, searchset
from app.fhir.search import NHS_NUMBER_SYSTEM, PATIENT_IDENTIFIER
from app.lookup.schemas import LookupAnswer, PlanView

SNOMED: Final = "http://snomed.info/sct"
PLAN_CATEGORY: Final = {
    "CPP": ("342191000000101", "Child protection plan"),
    "LAC": ("764841000000100", "Looked after child"),
    "UCPP": ("818901000000100", "Unborn child protection plan"),
}


def search_url(base_url: str, resource_type: str, nhs_number: str, *extra: str) -> str:
    """The self link of a search by NHS number, rebuilt from validated values only."""
    token = quote(f"{NHS_NUMBER_SYSTEM}|{nhs_number}", safe=":/|")
    return "&".join([f"{base_url}/{resource_type}?{PATIENT_IDENTIFIER}={token}", *extra])


def _telecom(plan: PlanView) -> list[dict[str, Any]]:
    # NHS England maps the office-hours number as work, the emergency duty team's as mobile.
    authority = plan.local_authority
    numbers = ((authority.office_hours_phone, "work"), (authority.emergency_duty_phone, "mobile"))
    return [{"system": "phone", "value": value, "use": use} for value, use in numbers if value]


def care_team(plan: PlanView, nhs_number: str) -> Resource:
    """One plan: type as a SNOMED CT category, period, the authority's name and phones."""
    code, text = PLAN_CATEGORY[plan.plan_type]
    period = {"start": plan.start_date.isoformat()}
    if plan.end_date is not None:
        period["end"] = plan.end_date.isoformat()
    resource: Resource = {
        "resourceType": "CareTeam",
        "id": new_id(),
        "meta": {"profile": [CARE_TEAM_PROFILE]},
        "status": "active" if plan.status == "active" else "inactive",
        "category": [{"coding": [{"system": SNOMED, "code": code}], "text": text}],
        "name": plan.local_authority.name,
        "subject": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}},
        "period": period,
    }
    telecom = _telecom(plan)
    if telecom:
        resource["telecom"] = telecom
    return resource


def care_team_bundle(result: LookupAnswer, base_url: str) -> Resource:
    """The lookup's answer as a searchset: one CareTeam per visible plan, empty when none."""
    return searchset(
        search_url(base_url, "CareTeam", result.nhs_number),
        [care_team(plan, result.nhs_number) for plan in result.plans],
    )
