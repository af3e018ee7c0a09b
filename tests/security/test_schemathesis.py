"""Schemathesis against the app's own OpenAPI document, as every kind of caller.

In-process over ASGI (schemathesis runs the app's lifespan on its own event loop), on a
fresh migrated database, with every default check: server errors, status codes and
content types the document does not declare, response-schema conformance, ignored auth,
acceptance of invalid data. Positive and negative cases for every operation.

Time-boxed for CI: ``CPIS_FUZZ_EXAMPLES`` (default 25) examples per operation, mode and
principal; raise it for a longer run. Every operation is fuzzed even after one fails, so
a run reports all its findings at once.

One check is narrowed, never switched off: ``positive_data_acceptance`` expects any
schema-valid request to be accepted, but a few refusals depend on things JSON Schema
cannot say. Each is listed in ``TOLERATED_REJECTIONS`` with its reason, matched on the
operation, the status and the service's own explanation, and nothing else is excused.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.config import Settings
from app.db.session import DatabaseURLs
from app.main import create_app
from app.nhs_number import check_digit
from tests.conftest import Tokens
from tests.security.catalogue import FHIR_NHS_NUMBER, PRINCIPALS, token_for

EXAMPLES = int(os.environ.get("CPIS_FUZZ_EXAMPLES", "25"))
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases every run: a CI failure reproduces locally
    suppress_health_check=list(HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
TOTALS: dict[str, int] = {"cases": 0}


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    """Valid NHS numbers, sometimes spaced 3-3-4: what ``format: nhs-number`` promises."""
    first_nine = draw(st.from_regex(r"\A[0-9]{9}\Z"))
    digit = check_digit(first_nine)
    hypothesis.assume(digit is not None)
    number = f"{first_nine}{digit}"
    if draw(st.booleans()):
        return f"{number[:3]} {number[3:6]} {number[6:]}"
    return number


schemathesis.openapi.format("nhs-number", nhs_numbers())
schemathesis.openapi.format(
    "fhir-nhs-number-identifier", nhs_numbers().map(lambda n: f"{FHIR_NHS_NUMBER}|{n}")
)

# (operation or None for any, status, what the service's answer says): schema-valid
# requests the service refuses on purpose, for reasons no JSON Schema can express.
TOLERATED_REJECTIONS: tuple[tuple[str | None, int, str], ...] = (
    # Cursors are opaque: well-formed base64url the service never issued is refused (422)
    # rather than trusted, so no schema can describe the valid ones.
    (None, 422, "this service issued"),
    (None, 422, "not issued by this service"),
    # A number cannot be superseded by itself: a rule across two fields.
    ("POST /v1/nhs-numbers/supersede", 422, "superseded_by must differ from nhs_number"),
    # since must come before until: a rule across two fields.
    ("POST /v1/access-history/search", 422, "since must be before until"),
    # A webhook URL needs a secret sent now or stored earlier: a rule over stored state.
    ("PUT /v1/local-authorities/{code}", 422, "needs a webhook_secret"),
    # An upload's grammar (the CSV header, at least one record, JSON records) is the
    # file format of CONTRACT §3.2, not a JSON Schema: an unreadable file is 422 CPF01.
    ("POST /v1/uploads", 422, "CPF01"),
)


def _tolerated(case: Any, response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    # Only the service's own words are matched; a refusal of one field is never excused.
    errors = body.get("errors") or []
    if any(e.get("loc") != ["body"] for e in errors):
        return False
    said = " ".join(
        [str(body.get("detail", "")), str(body.get("file_code", ""))]
        + [str(e.get("msg", "")) for e in errors]
    )
    return any(
        operation in (None, case.operation.label) and response.status_code == status and why in said
        for operation, status, why in TOLERATED_REJECTIONS
    )


def positive_data_acceptance_with_documented_exceptions(ctx: Any, response: Any, case: Any) -> Any:
    if _tolerated(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)


def _authenticate(schema: Any, token: str) -> None:
    """Send ``token`` as schemathesis' own auth, so it knows which header is the credential:
    it then probes without it and with a wrong one (``ignored_auth``), and never counts a
    request as "missing Authorization" when the token was in fact sent."""

    @schema.auth()
    class Bearer:
        def get(self, case: Any, ctx: Any) -> str:
            return token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _fuzz(operation: Any, mode: GenerationMode) -> int:
    cases = 0

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal cases
        cases += 1
        case.call_and_validate(
            excluded_checks=[positive_data_acceptance],
            additional_checks=[positive_data_acceptance_with_documented_exceptions],
        )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # An operation with no inputs (GET /healthz) has no invalid request to make.
        if mode is not GenerationMode.NEGATIVE or cases:
            raise
    return cases


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_the_api_honours_its_openapi_document(
    settings: Settings, database: DatabaseURLs, tokens: Tokens, principal: str
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, database))
    token = token_for(tokens, principal)
    if token is not None:
        _authenticate(schema, token)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18  # every documented operation, FHIR included
    findings: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                TOTALS["cases"] += _fuzz(operation, mode)
            except Exception as failure:  # every operation is fuzzed; all findings reported
                findings.append(f"{operation.label} ({mode.value}): {failure}")
    TOTALS["operations"] = len(operations)
    print(f"schemathesis: {TOTALS['cases']} cases so far, {len(operations)} operations")
    assert findings == [], "\n\n".join(findings)
