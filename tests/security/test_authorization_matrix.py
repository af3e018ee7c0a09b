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


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r in POLICY])
async def test_route_admits_exactly_its_principals(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    method: str,
    path: str,
) -> None:
    await add_plan(owner_db, CHILD_A)  # so a leak would have something to leak
    allowed = POLICY[(method, path)].allowed
    wrong: list[str] = []
    for principal in PRINCIPALS:
        before = await owner_db.fetchval("SELECT coalesce(max(seq), 0) FROM audit_events")
        response = await _call(client, method, path, token_for(tokens, principal))
        status = response.status_code
        kinds = {
            r["kind"]
            for r in await owner_db.fetch("SELECT kind FROM audit_events WHERE seq > $1", before)
        }
        if status >= 500:
            wrong.append(f"{principal}: {status}")
        elif principal in allowed and status in (401, 403):
            wrong.append(f"{principal} should be admitted, got {status}")
        elif principal not in allowed:
            expected = 401 if principal == ANONYMOUS else 403
            if status != expected:
                wrong.append(f"{principal} should get {expected}, got {status}")
            elif '"plans"' in response.text or kinds - {"access-denied"}:
                wrong.append(f"{principal} refused but saw plans or left {kinds}")
            elif expected == 401 and "WWW-Authenticate" not in response.headers:
                wrong.append(f"{principal}: 401 without WWW-Authenticate")
    assert wrong == []
