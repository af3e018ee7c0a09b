"""Per-record feedback: every row code, and bad rows never stopping good ones."""

from __future__ import annotations

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import Tokens
from tests.ingest.helpers import csv_body, plans_of, rejection_codes, upload
from tests.support import CHILD_A, CHILD_B, CHILD_C, MOTHER, UNKNOWN

WRONG_CHECK_DIGIT = CHILD_A[:9] + str((int(CHILD_A[9]) + 1) % 10)


@pytest.mark.parametrize(
    ("row", "code", "words"),
    [
        (f"{WRONG_CHECK_DIGIT},CPP,2026-01-05,,,", "CPR04", "nhs_number check digit is wrong"),
        ("12345,CPP,2026-01-05,,,", "CPR04", "nhs_number must be 10 digits"),
        (",CPP,2026-01-05,,,", "CPR04", "nhs_number is missing"),
        (f"{CHILD_B},XYZ,2026-01-05,,,", "CPR07", "plan_type must be CPP, LAC or UCPP"),
        (f"{CHILD_B},,2026-01-05,,,", "CPR07", "plan_type is missing"),
        (f"{CHILD_B},CPP,,,,", "CPR07", "start_date is missing"),
        (f"{CHILD_B},CPP,05/01/2026,,,", "CPR07", "start_date must be a real date"),
        (f"{CHILD_B},CPP,2026-02-30,,,", "CPR07", "start_date must be a real date"),
        (f"{CHILD_B},CPP,2026-01-05,2026-13-01,,", "CPR07", "end_date must be a real date"),
        (f"{CHILD_B},CPP,2026-01-05,,tomorrow,", "CPR07", "delete_date must be a real date"),
        (f"{CHILD_B},CPP,2026-01-05,2026-01-04,,", "CPR07", "end_date is before start_date"),
        (f"{CHILD_B},CPP,2026-01-05,,,{'L' * 101}", "CPR07", "local_id is longer than 100"),
        (f"{CHILD_B},CPP,2026-01-05,,", "CPR07", "has 5 fields; expected 6"),
    ],
)
async def test_each_bad_row_is_rejected_with_its_code_and_the_good_rows_load(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    row: str,
    code: str,
    words: str,
) -> None:
    response = await upload(client, tokens, csv_body(f"{CHILD_C},LAC,2026-01-01,,,", row))
    assert response.status_code == 201
    body = response.json()
    assert (body["file_code"], body["received"], body["accepted"], body["rejected"]) == (
        "CPF03",
        2,
        1,
        1,
    )
    [rejection] = body["rejections"]
    assert (rejection["row"], rejection["code"]) == (2, code)
    assert words in rejection["detail"]
    assert [p[0] for p in await plans_of(owner_db)] == [CHILD_C]


async def test_a_row_with_several_problems_names_them_all(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await upload(client, tokens, csv_body(f"{CHILD_B},XYZ,,2026-01-04,,"))
    [rejection] = response.json()["rejections"]
    assert rejection["code"] == "CPR07"
    assert "plan_type" in rejection["detail"]
    assert "start_date is missing" in rejection["detail"]


async def test_superseded_nhs_number_is_cpr05(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await owner_db.execute(
        "INSERT INTO superseded_nhs_numbers (nhs_number, superseded_by, marked_by)"
        " VALUES ($1, $2, 'test'), ($3, NULL, 'test')",
        CHILD_A,
        CHILD_B,
        MOTHER,
    )
    body = csv_body(
        f"{CHILD_A},CPP,2026-01-05,,,",
        f"{MOTHER},UCPP,2026-01-05,,,",
        f"{CHILD_C},LAC,2026-01-01,,,",
    )
    response = (await upload(client, tokens, body)).json()
    assert (response["accepted"], response["rejected"]) == (1, 2)
    assert rejection_codes_of(response) == [(1, "CPR05"), (2, "CPR05")]
    assert "superseded" in response["rejections"][0]["detail"]
    assert "inactive" in response["rejections"][1]["detail"]
    assert [p[0] for p in await plans_of(owner_db)] == [CHILD_C]


def rejection_codes_of(body: dict[str, object]) -> list[tuple[int, str]]:
    return [(r["row"], r["code"]) for r in body["rejections"]]  # type: ignore[attr-defined]


async def test_the_same_plan_twice_loads_the_first_and_rejects_later_copies(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    body = csv_body(
        f"{CHILD_A},CPP,2026-01-05,,,FIRST",
        f"{CHILD_B},CPP,2026-01-05,,,",
        f"{CHILD_A},CPP,2026-01-05,2026-06-01,,SECOND",
        f"{CHILD_A},CPP,2026-01-05,,,THIRD",
        f"{CHILD_A},LAC,2026-01-05,,,OTHER TYPE",
    )
    response = await upload(client, tokens, body)
    assert rejection_codes(response) == [(3, "CPR07"), (4, "CPR07")]
    assert "already at row 1" in response.json()["rejections"][0]["detail"]
    assert {(p[0], p[1], p[5]) for p in await plans_of(owner_db)} == {
        (CHILD_A, "CPP", "FIRST"),
        (CHILD_A, "LAC", "OTHER TYPE"),
        (CHILD_B, "CPP", None),
    }


async def test_no_good_rows_is_cpf04(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await upload(client, tokens, csv_body("1,CPP,2026-01-05,,,", "2,CPP,,,,"))
    assert response.status_code == 201
    assert (response.json()["file_code"], response.json()["accepted"]) == ("CPF04", 0)


async def test_sending_a_plan_again_updates_its_dates_and_local_id(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    await upload(client, tokens, csv_body(f"{CHILD_A},CPP,2026-01-05,,,OLD"), sequence=1)
    await upload(
        client, tokens, csv_body(f"{CHILD_A},CPP,2026-01-05,2026-09-01,2027-09-01,NEW"), sequence=2
    )
    [plan] = await plans_of(owner_db)
    assert (str(plan[3]), str(plan[4]), plan[5]) == ("2026-09-01", "2027-09-01", "NEW")


async def test_a_plan_sent_again_unchanged_is_neither_rewritten_nor_locked(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    # Nightly full files are mostly unchanged: their rows must cost no write (and no WAL).
    same = f"{CHILD_A},CPP,2026-01-05,,,SAME"
    row = "SELECT ctid, xmin, xmax, updated_at FROM plans WHERE nhs_number = $1"
    await upload(client, tokens, csv_body(same), sequence=1)
    before = await owner_db.fetchrow(row, CHILD_A)
    response = await upload(
        client, tokens, csv_body(same, f"{CHILD_B},LAC,2026-01-05,,,"), sequence=2
    )
    assert (response.status_code, response.json()["accepted"]) == (201, 2)
    assert await owner_db.fetchrow(row, CHILD_A) == before
    assert len(await plans_of(owner_db)) == 2


async def test_json_records_load_with_null_empty_and_omitted_fields_meaning_none(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    records = [
        {"nhs_number": CHILD_A, "plan_type": "CPP", "start_date": "2026-01-05", "end_date": None},
        {"nhs_number": CHILD_B, "plan_type": "LAC", "start_date": "2026-01-05", "local_id": ""},
        {"nhs_number": CHILD_C, "plan_type": "CPP", "start_date": "2026-01-05", "colour": "red"},
        {"nhs_number": 9434765919, "plan_type": "CPP", "start_date": "2026-01-05"},
        ["not", "an", "object"],
        {"nhs_number": UNKNOWN, "plan_type": "CPP", "start_date": 20260105},
    ]
    response = await upload(
        client,
        tokens,
        orjson.dumps({"records": records}),
        content_type="application/json; charset=utf-8",
    )
    body = response.json()
    assert (response.status_code, body["accepted"]) == (201, 2)
    assert rejection_codes(response) == [(3, "CPR07"), (4, "CPR04"), (5, "CPR07"), (6, "CPR07")]
    assert "unknown field(s) colour" in body["rejections"][0]["detail"]
    assert body["rejections"][0]["nhs_number"] == CHILD_C
    assert "not a JSON object" in body["rejections"][2]["detail"]
    assert "start_date must be text" in body["rejections"][3]["detail"]
    assert [(p[0], p[3], p[5]) for p in await plans_of(owner_db)] == [
        (CHILD_B, None, None),
        (CHILD_A, None, None),
    ]
