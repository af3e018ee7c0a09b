"""GET /fhir/R4/AuditEvent: the access history, read without being an access (CONTRACT §4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.db.session import DatabaseURLs
from tests.conftest import Tokens
from tests.fhir.fhir_support import NHS_SYSTEM, ODS, identifier, matches, search, validated
from tests.support import CHILD_A, UNKNOWN, add_past_lookup, add_plan

AGENT = "AuditEvent:agent"
NHS_ALIAS = "AuditEvent:entity-type=http://terminology.hl7.org/CodeSystem/v3-RoleClass|ASSIGNED"


def history_params(nhs: str = CHILD_A, include: str | None = None) -> list[tuple[str, str]]:
    params = [("patient:identifier", identifier(nhs))]
    return params + ([("_include", include)] if include else [])


async def test_history_is_a_bundle_of_auditevents_newest_first_with_contained_agents(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    now = datetime.now(UTC)
    await add_past_lookup(database, CHILD_A, at=now - timedelta(days=2), sub="u-old")
    await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=3), sub="u-new")
    response = await search(client, "AuditEvent", tokens.clinician(), history_params())
    assert response.status_code == 200
    bundle = validated(response)
    assert bundle["total"] == 2
    assert bundle["link"][0]["url"].endswith(
        f"/AuditEvent?patient:identifier={NHS_SYSTEM}|{CHILD_A}"
    )
    newest, oldest = matches(bundle)
    assert datetime.fromisoformat(newest["recorded"]) == now - timedelta(hours=3)
    assert datetime.fromisoformat(oldest["recorded"]) == now - timedelta(days=2)
    assert newest["meta"]["profile"] == [
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-AuditEvent"
    ]
    assert newest["type"]["code"] == "rest"
    assert newest["subtype"][0]["code"] == "search-type"
    [agent] = newest["agent"]
    assert (agent["who"], agent["name"], agent["requestor"]) == (
        {"reference": "#agent"},
        "Dr Past",
        True,
    )
    role, organization = newest["contained"]
    assert role["resourceType"] == "PractitionerRole"
    assert role["practitioner"] == {"display": "Dr Past"}
    assert role["code"] == [{"text": "Nurse"}]
    assert role["organization"] == {"reference": "#organization", "display": "Elsewhere MIU"}
    assert organization["identifier"] == [{"system": ODS, "value": "RXX01"}]
    patient, request = newest["entity"]
    assert patient["what"] == {"identifier": {"system": NHS_SYSTEM, "value": CHILD_A}}
    assert patient["detail"] == [{"type": "care-setting", "valueString": "minor-injury-unit"}]
    assert request["what"]["identifier"]["value"] == "past"


@pytest.mark.parametrize("include", [AGENT, NHS_ALIAS])
async def test_include_agent_adds_each_practitioner_role_once_as_an_include_entry(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    database: DatabaseURLs,
    include: str,
) -> None:
    await add_plan(owner_db, CHILD_A)
    now = datetime.now(UTC)
    await add_past_lookup(database, CHILD_A, at=now - timedelta(days=3), sub="u1")
    await add_past_lookup(database, CHILD_A, at=now - timedelta(days=1), sub="u1")
    await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=1), sub="u2")
    response = await search(
        client, "AuditEvent", tokens.clinician(), history_params(include=include)
    )
    bundle = validated(response)
    assert bundle["total"] == 3  # matches only, as FHIR counts
    modes = [entry["search"]["mode"] for entry in bundle["entry"]]
    assert modes == ["match"] * 3 + ["include"] * 2
    included = {
        e["fullUrl"]: e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"
    }
    referenced = [event["agent"][0]["who"]["reference"] for event in matches(bundle)]
    assert referenced[1] == referenced[2] != referenced[0]  # u1 twice, one role
    assert set(referenced) == set(included)
    for role in included.values():
        assert role["resourceType"] == "PractitionerRole"
        assert role["contained"][0]["identifier"] == [{"system": ODS, "value": "RXX01"}]
    assert all("contained" not in event for event in matches(bundle))


async def test_reading_history_is_audited_but_is_not_an_access(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    token = tokens.clinician()
    response = await search(client, "AuditEvent", token, history_params(), TraceID="trace-h")
    assert validated(response)["total"] == 0
    row = await owner_db.fetchrow(
        "SELECT kind, subject_nhs_number, request_id, unscheduled, detail FROM audit_events"
    )
    assert (row["kind"], row["subject_nhs_number"], row["request_id"]) == (
        "history-search",
        CHILD_A,
        "trace-h",
    )
    assert row["unscheduled"] is None
    assert json.loads(row["detail"])["interface"] == "fhir"
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0
    again = validated(await search(client, "AuditEvent", token, history_params()))
    assert again["total"] == 0


async def test_history_is_empty_when_the_child_has_no_visible_plan(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_past_lookup(database, UNKNOWN, at=datetime.now(UTC) - timedelta(hours=2), sub="u1")
    response = await search(client, "AuditEvent", tokens.clinician(), history_params(UNKNOWN))
    bundle = validated(response)
    assert (bundle["total"], "entry" in bundle) == (0, False)
    assert (
        await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'history-search'")
        == 1
    )


async def test_history_shows_at_most_25_accesses_including_a_careteam_search(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    now = datetime.now(UTC)
    for i in range(30):
        await add_past_lookup(database, CHILD_A, at=now - timedelta(hours=i + 1), sub=f"u{i}")
    token = tokens.clinician()
    await search(client, "CareTeam", token, history_params())
    bundle = validated(await search(client, "AuditEvent", token, history_params()))
    assert bundle["total"] == 25
    newest = matches(bundle)[0]
    assert newest["agent"][0]["name"] == "Dr Ada Example"
    assert newest["contained"][1]["identifier"][0]["value"] == "RJ122"


async def test_b0170_user_may_read_the_history(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A)
    await add_past_lookup(database, CHILD_A, at=datetime.now(UTC) - timedelta(hours=2), sub="u1")
    response = await search(client, "AuditEvent", tokens.clinician(("B0170",)), history_params())
    assert validated(response)["total"] == 1
