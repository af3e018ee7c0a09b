"""An audit insert that fails in the database (disk full) fails the lookup closed.

tests/audit/test_audit_trail.py covers a revoked INSERT privilege and a failing commit;
this adds the failure a full disk produces: an error raised by the INSERT itself.
"""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, add_plan


async def test_a_disk_full_error_on_the_audit_insert_answers_503_without_plans(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    await owner_db.execute(
        """
        CREATE FUNCTION simulate_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'could not extend file: No space left on device'
            USING ERRCODE = 'disk_full';
        END $$
        """
    )
    await owner_db.execute(
        "CREATE TRIGGER disk_full BEFORE INSERT ON audit_events"
        " FOR EACH ROW EXECUTE FUNCTION simulate_disk_full()"
    )
    body = {"nhs_number": CHILD_A, "care_setting": "emergency-department"}
    response = await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    assert response.status_code == 503
    assert response.json()["code"] == "service-unavailable"
    assert CHILD_A not in response.text
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0
