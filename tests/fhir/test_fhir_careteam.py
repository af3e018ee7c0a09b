"""GET /fhir/R4/CareTeam: a lookup, answered as CareTeam resources (CONTRACT §4)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import asyncpg
import httpx

from app.clock import today_in_london
from tests.conftest import Tokens, bearer
from tests.fhir.fhir_support import NHS_SYSTEM, identifier, matches, search, validated
from tests.support import CAMDEN, CHILD_A, CHILD_B, LEEDS, MOTHER, UNKNOWN, add_plan, set_phones

CPP, LAC, UCPP = "342191000000101", "764841000000100", "818901000000100"


def care_team_params(nhs: str) -> dict[str, str]:
    return {"patient:identifier": identifier(nhs)}


async def test_each_visible_plan_is_a_careteam_with_its_authority_and_phones(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await set_phones(owner_db, CAMDEN, "020 7946 0001", "020 7946 0002")
    ended = today_in_london() - timedelta(days=10)
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, start=date(2026, 3, 1))
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC", end=ended)
    response = await search(client, "CareTeam", tokens.clinician(), care_team_params(CHILD_A))
    assert response.status_code == 200
    bundle = validated(response)
    assert (bundle["type"], bundle["total"]) == ("searchset", 2)
    assert bundle["link"][0]["relation"] == "self"
    assert bundle["link"][0]["url"].endswith(
        f"/fhir/R4/CareTeam?patient:identifier={NHS_SYSTEM}|{CHILD_A}"
    )
    by_code = {t["category"][0]["coding"][0]["code"]: t for t in matches(bundle)}
    cpp, lac = by_code[CPP], by_code[LAC]
    assert cpp["meta"]["profile"] == ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-CareTeam"]
    assert cpp["category"][0]["coding"][0]["system"] == "http://snomed.info/sct"
    assert cpp["subject"] == {"identifier": {"system": NHS_SYSTEM, "value": CHILD_A}}
    assert (cpp["name"], cpp["status"], cpp["period"]) == (
        "Camden",
        "active",
        {"start": "2026-03-01"},
    )
    assert cpp["telecom"] == [
        {"system": "phone", "value": "020 7946 0001", "use": "work"},
        {"system": "phone", "value": "020 7946 0002", "use": "mobile"},
    ]
    assert (lac["status"], lac["period"]["end"]) == ("inactive", ended.isoformat())
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        assert entry["search"] == {"mode": "match"}


async def test_unborn_child_plan_is_found_on_the_mothers_number(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, MOTHER, plan_type="UCPP")
    bundle = validated(
        await search(client, "CareTeam", tokens.clinician(), care_team_params(MOTHER))
    )
    [team] = matches(bundle)
    assert team["category"][0]["coding"][0]["code"] == UCPP


async def test_unknown_nhs_number_is_an_empty_bundle_and_still_audited(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    response = await search(client, "CareTeam", tokens.clinician(), care_team_params(UNKNOWN))
    assert response.status_code == 200
    bundle = validated(response)
    assert bundle["total"] == 0
    assert "entry" not in bundle
    row = await owner_db.fetchrow("SELECT kind, subject_nhs_number FROM audit_events")
    assert (row["kind"], row["subject_nhs_number"]) == ("lookup", UNKNOWN)


async def test_unflagged_child_with_only_expired_or_withdrawn_plans_is_an_empty_bundle(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    long_ago = today_in_london() - timedelta(days=800)
    await add_plan(owner_db, CHILD_A, start=long_ago, end=long_ago + timedelta(days=30))
    await add_plan(owner_db, CHILD_A, plan_type="LAC", withdrawn=True)
    bundle = validated(
        await search(client, "CareTeam", tokens.clinician(), care_team_params(CHILD_A))
    )
    assert bundle["total"] == 0
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_careteam_search_has_the_same_effects_as_a_v1_lookup(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    for child in (CHILD_A, CHILD_B):
        await add_plan(owner_db, child, authority=CAMDEN)
        await add_plan(owner_db, child, authority=LEEDS, plan_type="LAC")
    token = tokens.clinician()
    native = await client.post(
        "/v1/lookups",
        json={"nhs_number": CHILD_A, "care_setting": "emergency-department"},
        headers={**bearer(token), "X-Request-ID": "native-1"},
    )
    assert native.status_code == 200
    fhir = await search(
        client,
        "CareTeam",
        token,
        care_team_params(CHILD_B),
        X_Care_Setting="emergency-department",
        TraceID="trace-1",
    )
    assert fhir.status_code == 200
    assert fhir.headers["X-Request-ID"] == "trace-1"  # the id its audit event is stored with
    events = await owner_db.fetch(
        "SELECT kind, actor, subject_nhs_number, unscheduled, care_setting, request_id, detail"
        " FROM audit_events ORDER BY seq"
    )
    assert [e["request_id"] for e in events] == ["native-1", "trace-1"]
    assert [e["subject_nhs_number"] for e in events] == [CHILD_A, CHILD_B]
    native_event, fhir_event = (
        (e["kind"], e["actor"], e["unscheduled"], e["care_setting"], json.loads(e["detail"]))
        for e in events
    )
    assert native_event[:4] == fhir_event[:4]
    assert native_event[:1] + native_event[2:4] == ("lookup", True, "emergency-department")
    assert native_event[4]["plans_shown"] == fhir_event[4]["plans_shown"] == 2
    notes = await owner_db.fetch(
        "SELECT local_authority_code, type, nhs_number, payload FROM notifications ORDER BY seq"
    )
    assert [(n["nhs_number"], n["local_authority_code"]) for n in notes] == [
        (CHILD_A, LEEDS),
        (CHILD_A, CAMDEN),
        (CHILD_B, LEEDS),
        (CHILD_B, CAMDEN),
    ]

    def without_time_and_child(payload: str) -> dict[str, object]:
        fields = json.loads(payload)
        return {k: v for k, v in fields.items() if k not in ("accessed_at", "nhs_number")}

    native_notes = [without_time_and_child(n["payload"]) for n in notes[:2]]
    fhir_notes = [without_time_and_child(n["payload"]) for n in notes[2:]]
    assert native_notes == fhir_notes


async def test_unscheduled_false_is_a_silent_read(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    token = tokens.clinician(("B0107",))
    response = await search(
        client, "CareTeam", token, care_team_params(CHILD_A), IsUnscheduledAccessEvent="false"
    )
    assert validated(response)["total"] == 1
    event = await owner_db.fetchrow("SELECT kind, unscheduled FROM audit_events")
    assert (event["kind"], event["unscheduled"]) == ("lookup", False)
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0
    history = validated(await search(client, "AuditEvent", token, care_team_params(CHILD_A)))
    assert history["total"] == 0  # a silent read is not in the access history


async def test_missing_header_follows_the_role_default_for_b0107(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    await search(client, "CareTeam", tokens.clinician(("B0107",)), care_team_params(CHILD_A))
    event = await owner_db.fetchrow("SELECT unscheduled, care_setting FROM audit_events")
    assert (event["unscheduled"], event["care_setting"]) == (True, "other")
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 1


async def test_b0170_user_reads_silently_without_the_header(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A)
    response = await search(
        client, "CareTeam", tokens.clinician(("B0170",)), care_team_params(CHILD_A)
    )
    assert validated(response)["total"] == 1
    event = await owner_db.fetchrow("SELECT kind, unscheduled FROM audit_events")
    assert (event["kind"], event["unscheduled"]) == ("lookup", False)
    assert await owner_db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_invalid_trace_id_is_ignored_for_the_request_id(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    response = await client.get(
        "/fhir/R4/CareTeam",
        params=care_team_params(UNKNOWN),
        headers={**bearer(tokens.clinician()), "TraceID": "bad id!", "X-Request-ID": "req-9"},
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-9"
    assert await owner_db.fetchval("SELECT request_id FROM audit_events") == "req-9"
