"""Which plans a lookup shows (CONTRACT §3.1), through the real endpoint."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from app.clock import today_in_london
from tests.conftest import Tokens, bearer
from tests.support import CAMDEN, CHILD_A, KENT, LEEDS, MOTHER, UNKNOWN, add_plan, set_phones


def months_back(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return day.replace(year=year, month=month + 1)


async def look_up(client: httpx.AsyncClient, tokens: Tokens, nhs: str) -> httpx.Response:
    return await client.post(
        "/v1/lookups",
        json={"nhs_number": nhs, "care_setting": "emergency-department"},
        headers=bearer(tokens.clinician()),
    )


async def test_active_plan_is_shown_with_its_authority_contacts(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await set_phones(owner_db, CAMDEN, "020 7946 0001", "020 7946 0002")
    await add_plan(owner_db, CHILD_A, start=date(2026, 3, 1))
    response = await look_up(client, tokens, CHILD_A)
    assert response.status_code == 200
    body = response.json()
    assert body["has_plans"] is True
    assert body["nhs_number"] == CHILD_A
    assert body["plans"] == [
        {
            "plan_type": "CPP",
            "start_date": "2026-03-01",
            "end_date": None,
            "status": "active",
            "local_authority": {
                "code": CAMDEN,
                "name": "Camden",
                "office_hours_phone": "020 7946 0001",
                "emergency_duty_phone": "020 7946 0002",
            },
        }
    ]


async def test_nothing_held_is_a_200_with_no_plans_and_no_history(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await look_up(client, tokens, UNKNOWN)
    assert response.status_code == 200
    body = response.json()
    assert (body["has_plans"], body["plans"], body["access_history"]) == (False, [], [])


@pytest.mark.parametrize(
    ("end_offset", "delete_offset", "visible", "status"),
    [
        (None, None, True, "active"),  # no end date: always visible
        (0, None, True, "active"),  # ends today: still active
        (1, None, True, "active"),
        (-1, None, True, "ended"),  # ended yesterday: visible, ended
        (None, 0, True, "active"),  # delete date today: still visible
        (None, -1, False, None),  # past its delete date
        (-400, 5, True, "ended"),  # a delete date overrides end + 12 months
        (-1, -1, False, None),
    ],
)
async def test_visibility_by_end_and_delete_dates(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    end_offset: int | None,
    delete_offset: int | None,
    visible: bool,
    status: str | None,
) -> None:
    today = today_in_london()
    end = today + timedelta(days=end_offset) if end_offset is not None else None
    delete = today + timedelta(days=delete_offset) if delete_offset is not None else None
    await add_plan(owner_db, CHILD_A, start=today - timedelta(days=800), end=end, delete=delete)
    plans = (await look_up(client, tokens, CHILD_A)).json()["plans"]
    assert [p["status"] for p in plans] == ([status] if visible else [])


async def test_ended_plan_is_visible_up_to_and_including_end_plus_twelve_months(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    today = today_in_london()
    start = today - timedelta(days=900)
    await add_plan(owner_db, CHILD_A, start=start, end=months_back(today, 12))
    await add_plan(owner_db, MOTHER, start=start, end=months_back(today, 12) - timedelta(days=1))
    assert len((await look_up(client, tokens, CHILD_A)).json()["plans"]) == 1
    assert (await look_up(client, tokens, MOTHER)).json()["plans"] == []


async def test_withdrawn_plan_is_not_shown(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, withdrawn=True)
    assert (await look_up(client, tokens, CHILD_A)).json()["has_plans"] is False


async def test_every_plan_from_every_authority_is_returned(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, CHILD_A, authority=CAMDEN, plan_type="CPP", start=date(2026, 2, 1))
    await add_plan(owner_db, CHILD_A, authority=LEEDS, plan_type="LAC", start=date(2026, 4, 1))
    await add_plan(owner_db, CHILD_A, authority=KENT, plan_type="CPP", start=date(2025, 1, 1))
    plans = (await look_up(client, tokens, CHILD_A)).json()["plans"]
    assert [(p["local_authority"]["code"], p["plan_type"]) for p in plans] == [
        (LEEDS, "LAC"),
        (CAMDEN, "CPP"),
        (KENT, "CPP"),
    ]


async def test_unborn_child_plan_is_held_on_the_mothers_number(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await add_plan(owner_db, MOTHER, plan_type="UCPP")
    plans = (await look_up(client, tokens, MOTHER)).json()["plans"]
    assert [p["plan_type"] for p in plans] == ["UCPP"]


@pytest.mark.parametrize("spaced", ["999 670 4874", "999 6704 874", " 9996704874 "])
async def test_spaces_in_the_nhs_number_are_allowed(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection, spaced: str
) -> None:
    await add_plan(owner_db, CHILD_A)
    body = (await look_up(client, tokens, spaced)).json()
    assert body["nhs_number"] == CHILD_A
    assert body["has_plans"] is True


@pytest.mark.parametrize("bad", ["9996704875", "999670487", "99967048741", "abcdefghij", ""])
async def test_invalid_nhs_number_is_422_invalid_nhs_number(
    client: httpx.AsyncClient, tokens: Tokens, bad: str
) -> None:
    response = await look_up(client, tokens, bad)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid-nhs-number"
    assert bad not in response.text or bad == ""


async def test_a_bad_nhs_number_is_named_even_beside_other_faults(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = {"nhs_number": "9996704875", "care_setting": "car-park"}
    response = await client.post("/v1/lookups", json=body, headers=bearer(tokens.clinician()))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid-nhs-number"
    assert sorted(e["loc"][-1] for e in problem["errors"]) == ["care_setting", "nhs_number"]
