"""Every route × every principal, generated from the app's route table.

A route with no entry in ``catalogue.POLICY`` fails here, so a new endpoint cannot ship
without someone writing down who may call it. Each cell checks: admitted principals are
never 401/403; refused ones get 401 (no token, with WWW-Authenticate) or 403; no refusal
leaves anything but an ``access-denied`` audit row, and none carries plan data.
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.conftest import Tokens, bearer
from tests.security.catalogue import (
    ANONYMOUS,
    POLICY,
    PRINCIPALS,
    Policy,
    route_table,
    token_for,
    url_of,
)
from tests.support import CHILD_A, add_plan

ROUTES = route_table()


def test_every_route_has_a_policy() -> None:
    missing = [r for r in ROUTES if r not in POLICY]
    assert missing == [], f"routes without an entry in tests/security/catalogue.py: {missing}"


def test_every_policy_names_a_real_route() -> None:
    assert [r for r in POLICY if r not in ROUTES] == []


async def _call(
    client: httpx.AsyncClient, method: str, path: str, token: str | None
) -> httpx.Response:
    policy = POLICY[(method, path)]
    return await client.request(
        method,
        url_of(path, policy),
        json=policy.json,
        params=policy.params,
        headers=bearer(token) if token else {},
    )


CELLS = {"checked": 0}


def _wrong_outcome(
    principal: str, policy: Policy, response: httpx.Response, kinds: set[str]
) -> str | None:
    """What is wrong with one cell's answer, or None when it is exactly as the policy says."""
    status = response.status_code
    if principal in policy.allowed:
        expected = policy.expected(principal)
        return None if status == expected else f"{principal} should get {expected}, got {status}"
    expected = 401 if principal == ANONYMOUS else 403
    if status != expected:
        return f"{principal} should get {expected}, got {status}"
    if '"plans"' in response.text or '"items"' in response.text:
        return f"{principal} refused but shown data"
    # A 401 has no trustworthy actor, so nothing is written; a 403 is written, and only it.
    audited = {"access-denied"} if expected == 403 else set()
    if kinds != audited:
        return f"{principal} refused with {expected} but the audit trail got {kinds or 'nothing'}"
    if expected == 401 and not response.headers.get("WWW-Authenticate", "").startswith("Bearer"):
        return f"{principal}: 401 without WWW-Authenticate: Bearer"
    return None


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r in POLICY])
async def test_route_admits_exactly_its_principals(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    method: str,
    path: str,
) -> None:
    await add_plan(owner_db, CHILD_A)  # so a leak would have something to leak
    policy = POLICY[(method, path)]
    wrong: list[str] = []
    for principal in PRINCIPALS:
        before = await owner_db.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events")
        response = await _call(client, method, path, token_for(tokens, principal))
        kinds = {
            r["kind"]
            for r in await owner_db.fetch("SELECT kind FROM audit_events WHERE seq > $1", before)
        }
        CELLS["checked"] += 1
        problem = _wrong_outcome(principal, policy, response, kinds)
        if problem is not None:
            wrong.append(problem)
    assert wrong == []


def test_zz_report_the_cells_checked() -> None:
    # Runs after the matrix in file order; -s shows the figure for the report.
    print(f"authorisation matrix: {CELLS['checked']} cells checked")
    assert CELLS["checked"] in (0, len(ROUTES) * len(PRINCIPALS))
