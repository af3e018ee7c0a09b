"""Request and response of the lookup (CONTRACT §3.1)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.nhs_number import NHSNumber


class CareSetting(StrEnum):
    EMERGENCY_DEPARTMENT = "emergency-department"
    URGENT_TREATMENT_CENTRE = "urgent-treatment-centre"
    MINOR_INJURY_UNIT = "minor-injury-unit"
    WALK_IN_CENTRE = "walk-in-centre"
    GP_OUT_OF_HOURS = "gp-out-of-hours"
    NHS_111 = "nhs-111"
    AMBULANCE = "ambulance"
    MATERNITY = "maternity"
    PAEDIATRIC_WARD = "paediatric-ward"
    SEXUAL_HEALTH = "sexual-health"
    CAMHS = "camhs"
    DENTAL = "dental"
    COMMUNITY_PAEDIATRICS = "community-paediatrics"
    GENERAL_PRACTICE = "general-practice"
    SCHOOL_NURSING = "school-nursing"
    HEALTH_VISITING = "health-visiting"
    OTHER = "other"


PlanType = Literal["CPP", "LAC", "UCPP"]


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nhs_number: NHSNumber
    care_setting: CareSetting
    unscheduled: bool | None = Field(
        default=None,
        description="Omitted: true when the acting role holds B0107, else false. true needs B0107.",
    )


class LocalAuthorityContact(BaseModel):
    code: str
    name: str
    office_hours_phone: str | None
    emergency_duty_phone: str | None


class PlanView(BaseModel):
    plan_type: PlanType
    start_date: date
    end_date: date | None
    status: Literal["active", "ended"]
    local_authority: LocalAuthorityContact


class AccessEntry(BaseModel):
    accessed_at: datetime
    user_name: str | None
    role_name: str | None
    org_code: str | None
    org_name: str | None
    care_setting: str | None


class LookupResponse(BaseModel):
    access_id: uuid.UUID
    nhs_number: str
    has_plans: bool
    plans: list[PlanView]
    access_history: list[AccessEntry] = Field(
        description="The 25 most recent unscheduled accesses, newest first, the current one "
        "included when unscheduled. A look is left out when the same user already looked "
        "at this NHS number in the 24 hours before it. Empty when no plan is visible."
    )


PLAN_LIST = TypeAdapter(list[PlanView])


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    """A lookup's answer, as ``LookupResponse`` documents it: the plans validated, the access
    history as the JSON array the lookup's statement built (app/lookup/repository.py), so
    that its entries are never decoded, validated and encoded again here."""

    access_id: uuid.UUID
    nhs_number: str
    plans: list[PlanView]
    access_history: str  # a JSON array of AccessEntry objects, newest first

    @property
    def has_plans(self) -> bool:
        return bool(self.plans)

    def json(self) -> bytes:
        return orjson.dumps(
            {
                "access_id": self.access_id,
                "nhs_number": self.nhs_number,
                "has_plans": self.has_plans,
                "plans": orjson.Fragment(PLAN_LIST.dump_json(self.plans)),
                "access_history": orjson.Fragment(self.access_history),
            }
        )
