"""Schemathesis against the app's own OpenAPI document, as every kind of caller.

In-process over ASGI (schemathesis runs the app's lifespan on its own event loop), on a
fresh migrated database, with every default check: server errors, status codes and
content types the document does not declare, response-schema conformance, ignored auth,
acceptance of invalid data. Positive and negative cases for every operation.

Time-boxed for CI: ``CPIS_FUZZ_EXAMPLES`` (default 25) examples per operation, mode and
principal; raise it for a longer run.
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

from app.config import Settings
from app.db.session import DatabaseURLs
from app.main import create_app
from app.nhs_number import check_digit
from tests.conftest import Tokens, bearer
from tests.security.catalogue import PRINCIPALS, token_for

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


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> int:
    cases = 0

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal cases
        cases += 1
        case.call_and_validate(headers=headers)

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
    headers = bearer(token) if token else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            TOTALS["cases"] += _fuzz(operation, mode, headers)
    TOTALS["operations"] = len(operations)
    print(f"schemathesis: {TOTALS['cases']} cases so far, {len(operations)} operations")
