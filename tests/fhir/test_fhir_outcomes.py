"""Which Spine code each domain error becomes under /fhir/."""

from __future__ import annotations

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from app import errors
from app.fhir import outcomes, service
from tests.conftest import Tokens, bearer
from tests.fhir.fhir_support import identifier, spine_code, validated
from tests.support import CHILD_A, answering_500s


@pytest.mark.parametrize(
    ("error", "status", "code", "issue"),
    [
        (outcomes.InvalidSearchData("x"), 400, "INVALID_SEARCH_DATA", "invalid"),
        (outcomes.PreconditionFailed("x"), 400, "PRECONDITION_FAILED", "invalid"),
        (errors.Unauthorized(), 401, "ACCESS_DENIED", "login"),
        (errors.Forbidden("x"), 403, "ACCESS_DENIED", "forbidden"),
        (errors.NotFound("x"), 404, "RESOURCE_NOT_FOUND", "not-found"),
        (outcomes.UnsupportedService("x"), 404, "UNSUPPORTED_SERVICE", "not-found"),
        (outcomes.MethodNotAllowed("x"), 405, "UNSUPPORTED_SERVICE", "not-supported"),
        (errors.InvalidNHSNumber("x"), 400, "INVALID_SEARCH_DATA", "invalid"),
        (errors.Conflict("x"), 409, "BAD_REQUEST", "invalid"),
        (errors.TooManyRequests("x"), 429, "BAD_REQUEST", "throttled"),
        (errors.ServiceUnavailable("x"), 503, "UNABLE_TO_CALL_SERVICE", "transient"),
    ],
)
def test_domain_error_becomes_an_operation_outcome(
    error: errors.DomainError, status: int, code: str, issue: str
) -> None:
    outcome = outcomes.outcome_for(error)
    OperationOutcome.model_validate(outcome.body)
    assert outcome.status == status
    assert outcome.body["issue"][0]["details"]["coding"][0]["code"] == code
    assert outcome.body["issue"][0]["code"] == issue
    assert outcome.headers == error.headers


async def test_unexpected_failure_is_a_500_operation_outcome(
    client: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("mapping failed")

    monkeypatch.setattr(service, "care_team_bundle", broken)
    async with answering_500s(client) as raw:
        response = await raw.get(
            "/fhir/R4/CareTeam",
            params={"patient:identifier": identifier(CHILD_A)},
            headers={**bearer(tokens.clinician()), "TraceID": "trace-500"},
        )
    assert response.status_code == 500
    assert spine_code(validated(response)) == "FAILURE_TO_PROCESS_MESSAGE"
    assert response.headers["X-Request-ID"] == "trace-500"
    assert "mapping failed" not in response.text
