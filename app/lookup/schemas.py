"""Request and response of the lookup (CONTRACT §3.1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
