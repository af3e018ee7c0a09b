"""Search parameters and headers of the CP-IS FHIR calls, validated before anything is read.

Callers pass the raw query items and headers (names lower-cased, repeats kept), so
this module never sees the HTTP layer and every rule is testable on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from app.fhir.outcomes import InvalidSearchData, PreconditionFailed
from app.lookup.schemas import CareSetting
from app.nhs_number import problem_with

NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
PATIENT_IDENTIFIER: Final = "patient:identifier"
INCLUDE: Final = "_include"
INCLUDE_AGENT: Final = "AuditEvent:agent"
# What NHS England's consumer guide tells systems to send for the same thing.
INCLUDE_AGENT_NHS_ALIAS: Final = (
    "AuditEvent:entity-type=http://terminology.hl7.org/CodeSystem/v3-RoleClass|ASSIGNED"
)
UNSCHEDULED_HEADER: Final = "isunscheduledaccessevent"
CARE_SETTING_HEADER: Final = "x-care-setting"
TRACE_ID_HEADER: Final = "traceid"

MAX_PARAMETERS: Final = 10
_PRINTABLE_NAME = re.compile(r"^[A-Za-z0-9_:.\-]{1,64}$")

Items = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class CareTeamSearch:
    nhs_number: str
    care_setting: CareSetting
    unscheduled: bool | None  # None: the role's default (CONTRACT §3.1)


@dataclass(frozen=True)
class AuditEventSearch:
    nhs_number: str
    include_agents: bool


def _values(items: Items, name: str) -> list[str]:
    return [value for key, value in items if key == name]


def _reject_unsupported(params: Items, supported: frozenset[str]) -> None:
    if len(params) > MAX_PARAMETERS:
        raise InvalidSearchData("too many search parameters", issue_type="too-costly")
    for name, _ in params:
        if name not in supported:
            # Echo the name only when it is plainly a name: it is caller input.
            shown = f" {name}" if _PRINTABLE_NAME.match(name) else ""
            raise InvalidSearchData(
                f"search parameter{shown} is not supported", issue_type="not-supported"
            )


def _patient_nhs_number(params: Items) -> str:
    values = _values(params, PATIENT_IDENTIFIER)
    if len(values) != 1:
        raise InvalidSearchData(f"exactly one {PATIENT_IDENTIFIER} is required")
    system, bar, value = values[0].partition("|")
    if not bar or system != NHS_NUMBER_SYSTEM:
        raise InvalidSearchData(f"{PATIENT_IDENTIFIER} must be {NHS_NUMBER_SYSTEM}|<NHS number>")
    problem = problem_with(value)
    if problem is not None:
        raise InvalidSearchData(f"NHS number {problem}")
    return value.replace(" ", "")


def _single_header(headers: Items, name: str) -> str | None:
    values = _values(headers, name)
    if len(values) > 1:
        raise PreconditionFailed(f"header {name} must be sent at most once")
    return values[0] if values else None


def unscheduled_from(headers: Items) -> bool | None:
    """``IsUnscheduledAccessEvent``: exactly ``true`` or ``false`` (case-sensitive), or absent."""
    value = _single_header(headers, UNSCHEDULED_HEADER)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise PreconditionFailed("header IsUnscheduledAccessEvent must be true or false")
    return value == "true"


def care_setting_from(headers: Items) -> CareSetting:
    """``X-Care-Setting``: one of the §3.1 care settings, ``other`` when absent."""
    value = _single_header(headers, CARE_SETTING_HEADER)
    if value is None:
        return CareSetting.OTHER
    try:
        return CareSetting(value)
    except ValueError:
        raise PreconditionFailed("header X-Care-Setting is not a known care setting") from None


def care_team_search(params: Items, headers: Items) -> CareTeamSearch:
    """The CareTeam search, or InvalidSearchData / PreconditionFailed."""
    _reject_unsupported(params, frozenset({PATIENT_IDENTIFIER}))
    nhs_number = _patient_nhs_number(params)
    return CareTeamSearch(
        nhs_number=nhs_number,
        care_setting=care_setting_from(headers),
        unscheduled=unscheduled_from(headers),
    )


def audit_event_search(params: Items, headers: Items) -> AuditEventSearch:
    """The AuditEvent search; the CP-IS headers are checked but change nothing here."""
    _reject_unsupported(params, frozenset({PATIENT_IDENTIFIER, INCLUDE}))
    nhs_number = _patient_nhs_number(params)
    includes = set(_values(params, INCLUDE))
    if includes - {INCLUDE_AGENT, INCLUDE_AGENT_NHS_ALIAS}:
        raise InvalidSearchData(
            f"only _include={INCLUDE_AGENT} is supported", issue_type="not-supported"
        )
    # Sent by NHS England's consumers on this call too; validated so a bad one is
    # reported the same way everywhere, though reading history is never an access.
    unscheduled_from(headers)
    care_setting_from(headers)
    return AuditEventSearch(nhs_number=nhs_number, include_agents=bool(includes))
