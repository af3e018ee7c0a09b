"""Attendance-pattern alerts: reached rules notify each responsible authority exactly once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.audit import repository as audit_repository
from app.audit.schemas import AuditKind, NewAuditEvent
from app.config import Settings
from app.db.session import DatabaseURLs
from app.db.urls import async_url
from app.main import create_app
from app.patterns.rules import Attendance, attendances_of, rules_from_settings
from tests.conftest import Tokens, bearer
from tests.support import CAMDEN, CHILD_A, CHILD_B, CHILD_C, LEEDS, MOTHER, add_plan

NOW = datetime.now(UTC)


async def add_looks(
    urls: DatabaseURLs, nhs: str, looks: list[tuple[timedelta, str]], *, unscheduled: bool = True
) -> None:
    """Past unscheduled looks, each (how long ago, organisation), through the chained append."""
    engine = create_async_engine(async_url(urls.service))
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            for ago, org in looks:
                actor = {
                    "type": "health-user",
                    "sub": f"u-{org}",
                    "name": f"Nurse {org}",
                    "role_name": "Nurse",
                    "org_code": org,
                    "org_name": f"Unit {org}",
                }
                await audit_repository.append(
                    session,
                    NewAuditEvent(
                        kind=AuditKind.LOOKUP, actor=actor, request_id="past",
                        subject_nhs_number=nhs, unscheduled=unscheduled,
                        care_setting="minor-injury-unit", occurred_at=NOW - ago,
                    ),
                )  # fmt: skip
    finally:
        await engine.dispose()


async def look_up(
    client: httpx.AsyncClient, tokens: Tokens, org: str = "RJ122", **extra: Any
) -> None:
    body = {"nhs_number": CHILD_A, "care_setting": "emergency-department", **extra}
    token = tokens.clinician(org=org, sub=f"dr-{org}")
    assert (await client.post("/v1/lookups", json=body, headers=bearer(token))).status_code == 200


async def alerts(owner_db: asyncpg.Connection) -> list[tuple[str, dict[str, Any]]]:
    rows = await owner_db.fetch(
        "SELECT local_authority_code, payload::text AS payload FROM notifications"
        " WHERE type = 'attendance-pattern' ORDER BY seq"
    )
    return [
        (r["local_authority_code"], json.loads(r["payload::text"] if False else r[1])) for r in rows
    ]


async def test_three_organisations_in_30_days_alert_each_responsible_authority_once(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, plan_type="CPP")
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC")
    past = [
        (timedelta(days=40), "OLD01"),
        (timedelta(days=12), "ORG01"),
        (timedelta(days=3), "ORG02"),
    ]
    await add_looks(database, CHILD_A, past)
    await look_up(client, tokens, org="RJ122")
    raised = await alerts(owner_db)
    assert [code for code, _ in raised] == [LEEDS, CAMDEN]  # by authority code
    camden = raised[1][1]
    assert camden["rule"] == "different-organisations"
    assert camden["window_days"] == 30
    assert camden["nhs_number"] == CHILD_A
    assert camden["plan_types"] == ["CPP"]
    assert [a["org_code"] for a in camden["attendances"]] == ["ORG01", "ORG02", "RJ122"]
    assert set(camden["attendances"][0]) == {
        "accessed_at", "user_name", "role_name", "org_code", "org_name", "care_setting"
    }  # fmt: skip
    assert raised[0][1]["plan_types"] == ["LAC"]
    await look_up(client, tokens, org="ORG04")  # a fourth organisation: same window, no repeat
    await look_up(client, tokens, org="ORG05")
    assert len(await alerts(owner_db)) == 2


async def test_the_rule_fires_again_only_on_attendances_newer_than_its_last_alert(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await add_looks(database, CHILD_A, [(timedelta(days=2), "ORG01"), (timedelta(days=1), "ORG02")])
    await look_up(client, tokens, org="RJ122")
    assert len(await alerts(owner_db)) == 1
    await look_up(client, tokens, org="ORG03")
    await look_up(client, tokens, org="ORG04")
    assert len(await alerts(owner_db)) == 1
    await look_up(client, tokens, org="ORG05")  # ORG03, ORG04, ORG05: all after the first alert
    raised = await alerts(owner_db)
    assert len(raised) == 2
    assert [a["org_code"] for a in raised[1][1]["attendances"]] == ["ORG03", "ORG04", "ORG05"]


async def test_ten_attendances_in_a_year_alert_and_one_visit_counts_once(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    # Eight visits to the same MIU a month apart, one with a second look an hour later.
    visits = [(timedelta(days=40 * i + 35), "MIU01") for i in range(8)]
    await add_looks(
        database, CHILD_A, [*visits, (timedelta(days=35) - timedelta(hours=1), "MIU01")]
    )
    await look_up(client, tokens, org="RJ122")  # the ninth attendance
    assert await alerts(owner_db) == []
    await add_looks(database, CHILD_A, [(timedelta(days=400), "MIU01")])  # outside the year
    await look_up(client, tokens, org="RJ122")  # same organisation within 24 h: same visit
    assert await alerts(owner_db) == []
    await look_up(client, tokens, org="RJ999")  # the tenth attendance
    raised = await alerts(owner_db)
    assert [(p["rule"], p["window_days"], len(p["attendances"])) for _, p in raised] == [
        ("attendances", 365, 10)
    ]


async def test_a_look_in_the_same_visit_as_the_one_behind_an_alert_is_not_a_new_attendance(
    settings: Settings, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    """Once every rule has alerted, the check reads only the looks from a day before the
    oldest alert's last attendance (patterns.repository.LOOKS_FLOOR); that day is what
    tells a later look in the same visit from a new attendance."""
    app = create_app(settings.model_copy(update={"pattern_attendances": 0}), database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cpis.test") as client:
            await add_plan(owner_db, CHILD_A, authority=CAMDEN)
            await add_looks(
                database, CHILD_A, [(timedelta(days=2), "ORG01"), (timedelta(days=1), "ORG02")]
            )
            await look_up(client, tokens, org="RJ122")  # the third organisation: an alert
            await look_up(client, tokens, org="ORG03")
            await look_up(client, tokens, org="ORG04")
            await look_up(client, tokens, org="RJ122")  # the alert's visit, not a third one
            assert len(await alerts(owner_db)) == 1
            await look_up(client, tokens, org="ORG05")
            raised = await alerts(owner_db)
    assert [a["org_code"] for a in raised[1][1]["attendances"]] == ["ORG03", "ORG04", "ORG05"]


async def test_scheduled_reads_and_unflagged_children_raise_nothing(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    await add_looks(database, CHILD_B, [(timedelta(days=2), "ORG01"), (timedelta(days=1), "ORG02")])
    body = {"nhs_number": CHILD_B, "care_setting": "emergency-department"}
    await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    await add_plan(owner_db, CHILD_A, authority=CAMDEN)
    await add_looks(database, CHILD_A, [(timedelta(days=2), "ORG01"), (timedelta(days=1), "ORG02")],
                    unscheduled=False)  # fmt: skip
    await look_up(client, tokens, org="RJ122")
    await look_up(client, tokens, org="ORG03", unscheduled=False)
    assert await alerts(owner_db) == []
    assert await owner_db.fetchval("SELECT count(*) FROM attendance_alerts") == 0


async def test_concurrent_lookups_reaching_the_rule_together_alert_once(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, database: DatabaseURLs
) -> None:
    """Two looks at once, each the third organisation on its own: one alert, not two.

    (A third and fourth concurrent look could legitimately raise a second alert once
    three of them postdate the first: each attendance counts towards one alert.)
    """
    children = (CHILD_A, CHILD_B, CHILD_C, MOTHER)
    for child in children:
        await add_plan(owner_db, child, authority=CAMDEN)
        await add_looks(
            database, child, [(timedelta(days=2), "ORG01"), (timedelta(days=1), "ORG02")]
        )
    await asyncio.gather(
        *(
            look_up(client, tokens, org=org, nhs_number=child)
            for child in children
            for org in ("ORG03", "ORG04")
        )
    )
    per_child = await owner_db.fetch(
        "SELECT nhs_number, count(*) AS n FROM notifications"
        " WHERE type = 'attendance-pattern' GROUP BY nhs_number"
    )
    assert {r["nhs_number"]: r["n"] for r in per_child} == dict.fromkeys(children, 1)
    assert await owner_db.fetchval("SELECT count(*) FROM attendance_alerts") == len(children)


def test_looks_from_one_organisation_within_24_hours_are_one_attendance() -> None:
    def look(hours: float, org: str) -> Attendance:
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
        return Attendance(0, at, None, None, org, None, None)

    looks = [
        look(0, "A"),
        look(1, "B"),
        look(5, "A"),
        look(23, "A"),
        look(47.5, "A"),
        look(50, "A"),
    ]
    assert [(a.org_code, a.accessed_at.hour) for a in attendances_of(looks)] == [
        ("A", 0), ("B", 1), ("A", 23)
    ]  # fmt: skip


def test_rules_come_from_settings_and_a_zero_threshold_switches_one_off() -> None:
    settings = Settings(pattern_organisations=0, pattern_attendances=4, pattern_attendances_days=90)  # type: ignore[call-arg]
    assert [(r.name, r.threshold, r.window_days) for r in rules_from_settings(settings)] == [
        ("attendances", 4, 90)
    ]
