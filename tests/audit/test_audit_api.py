"""GET /v1/audit/events and /v1/audit/verify: auditors only, seq order, reads audited."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import httpx
import pytest

from app.audit.chain import event_hash
from app.audit.schemas import AuditKind
from tests.conftest import Tokens, bearer
from tests.support import CHILD_A, add_plan


async def look_up(client: httpx.AsyncClient, token: str) -> None:
    body = {"nhs_number": CHILD_A, "care_setting": "minor-injury-unit"}
    assert (await client.post("/v1/lookups", json=body, headers=bearer(token))).status_code == 200


async def events(client: httpx.AsyncClient, token: str, **params: object) -> httpx.Response:
    return await client.get("/v1/audit/events", params=params, headers=bearer(token))


async def test_events_come_in_seq_order_and_page_by_after(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    for _ in range(5):
        await look_up(client, tokens.clinician())
    first = (await events(client, tokens.auditor(), limit=3)).json()
    assert [e["kind"] for e in first["items"]] == ["lookup"] * 3
    second = (await events(client, tokens.auditor(), after=first["next_cursor"], limit=3)).json()
    seqs = [e["seq"] for e in first["items"] + second["items"]]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 6  # five lookups and the first page's own audit-read
    assert second["items"][-1]["kind"] == "audit-read"
    assert second["next_cursor"] == str(seqs[-1])


async def test_events_carry_what_an_auditor_needs_to_recompute_the_hash(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await look_up(client, tokens.clinician())
    event = (await events(client, tokens.auditor())).json()["items"][0]
    assert event["subject_nhs_number"] == CHILD_A
    assert event["actor"]["org_code"] == "RJ122"
    assert event["prev_hash"] is None or len(event["prev_hash"]) == 64
    fields = {
        **event,
        "chain": int(event["chain"]),
        "actor_id": event["actor"]["sub"],
        "occurred_at": datetime.fromisoformat(event["occurred_at"]),
    }
    prev = bytes.fromhex(event["prev_hash"]) if event["prev_hash"] else None
    assert event_hash(prev, fields).hex() == event["hash"]


async def test_kind_filter_returns_only_that_kind(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    await look_up(client, tokens.clinician())
    await client.get("/v1/audit/events", headers=bearer(tokens.la()))  # a refusal: access-denied
    denied = (await events(client, tokens.auditor(), kind="access-denied")).json()["items"]
    assert [e["kind"] for e in denied] == ["access-denied"]
    assert (await events(client, tokens.auditor(), kind="no-such-kind")).status_code == 422


async def test_reading_the_trail_is_itself_audited(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await events(client, tokens.auditor(), kind="lookup", limit=7)
    await client.get("/v1/audit/verify", headers=bearer(tokens.auditor()))
    rows = await owner_db.fetch(
        "SELECT detail->>'read' AS read, detail FROM audit_events"
        " WHERE kind = 'audit-read' ORDER BY seq"
    )
    assert [r["read"] for r in rows] == ["events", "verify"]
    assert '"limit": 7' in rows[0]["detail"]


@pytest.mark.parametrize("path", ["/v1/audit/events", "/v1/audit/verify"])
async def test_only_auditors_may_open_the_trail(
    client: httpx.AsyncClient, tokens: Tokens, path: str
) -> None:
    for token in (tokens.la(), tokens.admin(), tokens.clinician()):
        assert (await client.get(path, headers=bearer(token))).status_code == 403
    assert (await client.get(path)).status_code == 401


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"after": -1}])
async def test_out_of_range_paging_is_422(
    client: httpx.AsyncClient, tokens: Tokens, params: dict[str, int]
) -> None:
    assert (await events(client, tokens.auditor(), **params)).status_code == 422


async def test_verify_reports_ok_with_the_chain_heads(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    for _ in range(3):
        await look_up(client, tokens.clinician())
    report = (await client.get("/v1/audit/verify", headers=bearer(tokens.auditor()))).json()
    assert report["ok"] is True
    assert report["events_checked"] == 3
    assert sum(1 for _ in report["heads"]) >= 1
    assert all(len(h["hash"]) == 64 for h in report["heads"])


async def test_verify_over_http_names_the_first_altered_event(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    for _ in range(3):
        await look_up(client, tokens.clinician())
    seq = await owner_db.fetchval("SELECT min(seq) + 1 FROM audit_events")
    await owner_db.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
    await owner_db.execute("UPDATE audit_events SET care_setting = 'dental' WHERE seq = $1", seq)
    await owner_db.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
    report = (await client.get("/v1/audit/verify", headers=bearer(tokens.auditor()))).json()
    assert report["ok"] is False
    assert report["first_bad_seq"] == seq
    assert "altered" in report["reason"]


async def test_openapi_lists_every_audit_kind(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    listed = schema["components"]["schemas"]["AuditKind"]["enum"]
    assert set(listed) == {kind.value for kind in AuditKind}
    params = schema["paths"]["/v1/audit/events"]["get"]["parameters"]
    kind = next(p for p in params if p["name"] == "kind")
    assert "AuditKind" in str(kind["schema"])
