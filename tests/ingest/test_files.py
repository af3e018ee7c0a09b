"""What a file may look like, and the files that cannot be read at all (CPF01)."""

from __future__ import annotations

from datetime import date

import asyncpg
import httpx
import pytest

from tests.conftest import Tokens, bearer
from tests.ingest.helpers import HEADER, csv_body, plans_of, upload, upload_count
from tests.support import CHILD_A, CHILD_B, CHILD_C


async def test_csv_with_bom_crlf_quoted_fields_and_trailing_blank_lines_is_loaded(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    text = (
        f"\ufeff{HEADER}\r\n"
        f'"{CHILD_A}",CPP,2026-01-05,,,"case, with ""quotes"""\r\n'
        f'{CHILD_B},"LAC",2026-02-01,2026-10-01,2027-10-01,"line one\r\nline two"\r\n'
        f"{CHILD_C},UCPP,2026-03-01,,,\r\n"
        "\r\n\r\n"
    )
    response = await upload(client, tokens, text.encode())
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["received"], body["accepted"]) == (3, 2)
    # A quoted field may span lines; a line break inside a case reference is refused.
    assert [(r["row"], r["code"], r["detail"]) for r in body["rejections"]] == [
        (2, "CPR07", "local_id contains control characters")
    ]
    assert await plans_of(owner_db) == [
        (CHILD_A, "CPP", date(2026, 1, 5), None, None, 'case, with "quotes"', False),
        (CHILD_C, "UCPP", date(2026, 3, 1), None, None, None, False),
    ]


async def test_nhs_numbers_with_spaces_are_stored_as_ten_digits(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    spaced = f"{CHILD_A[:3]} {CHILD_A[3:6]} {CHILD_A[6:]}"
    response = await upload(client, tokens, csv_body(f"{spaced},CPP,2026-01-05,,,"))
    assert response.json()["accepted"] == 1
    assert [p[0] for p in await plans_of(owner_db)] == [CHILD_A]


async def test_header_columns_may_come_in_any_order(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    body = csv_body(
        f"X9,2026-01-05,CPP,{CHILD_A},,",
        header="local_id,start_date,plan_type,nhs_number,end_date,delete_date",
    )
    response = await upload(client, tokens, body)
    assert response.json()["accepted"] == 1
    assert (await plans_of(owner_db))[0][5] == "X9"


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"", "text/csv", "empty"),
        (b"\r\n\r\n", "text/csv", "empty"),
        (f"{HEADER}\n".encode(), "text/csv", "no records"),
        (b"nhs,plan,start\n9996704874,CPP,2026-01-05\n", "text/csv", "header"),
        (f"{HEADER},extra\n".encode(), "text/csv", "unknown: extra"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "text/csv", "UTF-8"),
        (HEADER.encode() + b"\n9996704874,CPP,2026-01-05,,,caf\xe9\n", "text/csv", "UTF-8"),
        (HEADER.encode() + b"\n9996704874,CPP,2026-01-05,,,\xe2\x82", "text/csv", "UTF-8"),
        (f'{HEADER}\n9996704874,CPP,2026-01-05,,,"never closed\n'.encode(), "text/csv", "quoted"),
        (f"{HEADER}\n{'x' * 5000}\n".encode(), "text/csv", "longer than"),
        (f"{HEADER}\nab\x00cd\n".encode(), "text/csv", "NUL bytes"),
        (f'{HEADER}\n99967048,"74"x,CPP\n'.encode(), "text/csv", "not valid CSV"),
        (b"<html>not a file</html>", "text/html", "Content-Type"),
        (f"{HEADER}\n{CHILD_A},CPP,2026-01-05,,,\n".encode(), "application/pdf", "Content-Type"),
        (b"", "application/json", "empty"),
        (b'{"records": [', "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "at the start"),
        (b'{"records": []}', "application/json", "no records"),
        (b'{"items": []}', "application/json", 'unknown top-level field "items"'),
        (b'{"records": [], "sequence": 4}', "application/json", "unknown top-level field"),
        (b'{"records": [], "records": []}', "application/json", "twice"),
        (b'{"records": []} trailing', "application/json", "after the closing"),
        (b"{}", "application/json", 'no "records"'),
    ],
)
async def test_unreadable_file_is_422_cpf01_and_stores_nothing(
    client: httpx.AsyncClient,
    tokens: Tokens,
    owner_db: asyncpg.Connection,
    body: bytes,
    content_type: str,
    words: str,
) -> None:
    response = await upload(client, tokens, body, content_type=content_type)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (problem["file_code"], problem["code"]) == ("CPF01", "unparseable-file")
    assert words in problem["detail"]
    assert await upload_count(owner_db) == 0
    assert await plans_of(owner_db) == []
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events WHERE kind = 'upload'") == 0


async def test_a_refused_file_does_not_use_up_its_sequence(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    assert (await upload(client, tokens, b"garbage", sequence=7)).status_code == 422
    good = await upload(client, tokens, csv_body(f"{CHILD_C},CPP,2026-01-05,,,"), sequence=7)
    assert good.status_code == 201


async def test_body_over_the_limit_is_413_from_content_length(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    limit = client.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
    body = csv_body(*[f"{CHILD_A},CPP,2026-01-05,,,{'x' * 90}"] * (limit // 100 + 10))
    response = await upload(client, tokens, body)
    assert (response.status_code, response.json()["code"]) == (413, "payload-too-large")
    assert await upload_count(owner_db) == 0


async def test_body_over_the_limit_is_413_while_streaming_without_content_length(
    client: httpx.AsyncClient, tokens: Tokens, owner_db: asyncpg.Connection
) -> None:
    limit = client.app.state.settings.max_upload_bytes  # type: ignore[attr-defined]
    line = f"{CHILD_A},CPP,2026-01-05,,,{'x' * 90}\n".encode()

    async def chunks():  # type: ignore[no-untyped-def]
        yield HEADER.encode() + b"\n"
        for _ in range(limit // (len(line) * 100) + 2):
            yield line * 100

    response = await client.post(
        "/v1/uploads",
        params={"sequence": 1},
        content=chunks(),
        headers={**bearer(tokens.la()), "Content-Type": "text/csv"},
    )
    assert (response.status_code, response.json()["code"]) == (413, "payload-too-large")
    assert await upload_count(owner_db) == 0
