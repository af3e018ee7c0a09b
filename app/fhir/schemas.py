"""Outline models of the FHIR resources, for the OpenAPI document only.

Responses are built as plain FHIR JSON (app/fhir/*.py) and validated in the tests
by a FHIR model library; these models just name the top-level shape for readers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _FHIRResource(BaseModel):
    model_config = ConfigDict(extra="allow")


class Bundle(_FHIRResource):
    """A searchset Bundle: ``total`` matches, ``link`` self, entries with search.mode."""

    resourceType: Literal["Bundle"]
    type: Literal["searchset"]
    total: int
    link: list[dict[str, Any]]
    entry: list[dict[str, Any]] | None = None


class CapabilityStatement(_FHIRResource):
    """What the facade implements."""

    resourceType: Literal["CapabilityStatement"]
    fhirVersion: str
    rest: list[dict[str, Any]]


class OperationOutcome(_FHIRResource):
    """An error: ``issue[0].details.coding[0].code`` is the NHS Spine error code."""

    resourceType: Literal["OperationOutcome"]
    issue: list[dict[str, Any]]
