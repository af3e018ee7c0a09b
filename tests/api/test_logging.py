"""No NHS number, name or token ever reaches a log line (CONTRACT §5)."""

from __future__ import annotations

import logging

import asyncpg
import httpx
import pytest

from app.observability.logs import JSONFormatter
from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, add_plan


async def test_lookups_and_refusals_log_no_personal_data(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_plan(owner_db, CHILD_A)
    token = tokens.clinician(name="Dr Secret Name")
    body = {"nhs_number": CHILD_A, "care_setting": "other"}
    await client.post("/v1/lookups?nhs_number=" + CHILD_A, json=body, headers=bearer(token))
    await client.post("/v1/lookups", json={**body, "nhs_number": "999 670 4875"})
    await client.post(
        "/v1/lookups",
        json={**body, "nhs_number": "9996704875"},
        headers=bearer(token),
    )
    await client.post(
        "/v1/lookups", json=body, headers=bearer(tokens.clinician(activity=("B0170",)))
    )
    await client.post("/v1/lookups", json={**body, "unscheduled": True}, headers=bearer(token))
    await client.post("/v1/lookups", json=body, headers=bearer(token + "x"))
    await owner_db.execute("REVOKE INSERT ON audit_events FROM cpis_app")
    await client.post("/v1/lookups", json=body, headers=bearer(token))

    formatter = JSONFormatter()
    # The test's own HTTP client logs its request lines; the service silences httpx
    # (configure_logging) because those lines carry URLs.
    lines = [formatter.format(r) for r in caplog.records if not r.name.startswith("httpx")]
    assert any('"route":"/v1/lookups"' in line for line in lines)
    for secret in (CHILD_A, "9996704875", "999 670 4875", "Dr Secret Name", token):
        assert not [line for line in lines if secret in line], secret
