"""Uploads under hostile input: odd text in every field is a row rejection (or a CPF01
file refusal), never a 5xx, never stored, never echoed in a form that breaks the answer.

Upload bodies are streamed past the JSON guard (they have their own, larger limit), so
they get their own suite: the rule for a bad record is CONTRACT §3.2's, bad rows never
stop good ones.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from app.ingest.csv_records import MAX_RECORD_CHARS
from app.ingest.rows import FIELDS
from tests.conftest import Tokens, bearer
from tests.security.catalogue import AUTHORITY_A, UPLOAD_RECORD, token_for
from tests.security.test_input_limits import HOSTILE_TEXT
from tests.support import CHILD_B

HEADER = ",".join(FIELDS)


@pytest.fixture
def camden(tokens: Tokens) -> dict[str, str]:
    return bearer(token_for(tokens, AUTHORITY_A) or "")


def _records_with(field: str, raw_value: str) -> bytes:
    """A JSON upload: one good record, then one carrying ``raw_value`` (raw JSON) in ``field``."""
    marker = "__POISON__"
    bad = {**UPLOAD_RECORD, "nhs_number": CHILD_B, field: marker}
    text = json.dumps({"records": [UPLOAD_RECORD, bad]})
    return text.replace(json.dumps(marker), raw_value).encode()


async def _send(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, content_type: str
) -> httpx.Response:
    return await client.post(
        "/v1/uploads",
        params={"sequence": 1},
        content=body,
        headers={**headers, "Content-Type": content_type},
    )


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("oddity", sorted(HOSTILE_TEXT))
async def test_hostile_text_in_an_upload_record_rejects_that_row_only(
    client: httpx.AsyncClient,
    camden: dict[str, str],
    owner_db: asyncpg.Connection,
    field: str,
    oddity: str,
) -> None:
    response = await _send(
        client, camden, _records_with(field, HOSTILE_TEXT[oddity]), "application/json"
    )
    if oddity == "raw control character":
        # Not JSON at all (RFC 8259 demands control characters be escaped): the file is CPF01.
        assert (response.status_code, response.json()["file_code"]) == (422, "CPF01")
        return
    assert response.status_code == 201, response.text
    ack = response.json()
    assert (ack["accepted"], ack["rejected"]) == (1, 1)
    [rejection] = ack["rejections"]
    assert rejection["row"] == 2
    assert rejection["code"] == ("CPR04" if field == "nhs_number" else "CPR07")
    assert field in rejection["detail"]
    # What is echoed back is printable: the answer is safe to log, store and display.
    assert (rejection["nhs_number"] or "").isprintable()
    stored = await owner_db.fetch("SELECT nhs_number, local_id FROM plans")
    assert [tuple(r) for r in stored] == [(UPLOAD_RECORD["nhs_number"], "CASE-1")]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("right-to-left override", "\u202e"),
        ("byte-order mark inside", "\ufeff"),
        ("raw control character", "\x07"),
    ],
)
async def test_hostile_text_in_a_csv_field_rejects_that_row_only(
    client: httpx.AsyncClient, camden: dict[str, str], name: str, text: str
) -> None:
    good = f"{UPLOAD_RECORD['nhs_number']},LAC,2026-02-01,,,CASE-1"
    bad = f"{CHILD_B},LAC,2026-02-01,,,CASE{text}2"
    body = f"{HEADER}\n{good}\n{bad}\n".encode()
    response = await _send(client, camden, body, "text/csv")
    assert response.status_code == 201, name
    assert [(r["row"], r["code"]) for r in response.json()["rejections"]] == [(2, "CPR07")]


@pytest.mark.parametrize(
    ("what", "body"),
    [
        ("NUL byte", f"{HEADER}\n9996704874,CPP,2026-01-05,,,A\x00B\n".encode()),
        ("overlong UTF-8", f"{HEADER}\n".encode() + b"9996704874,CPP,2026-01-05,,,\xc0\xaf\n"),
        (
            "lone surrogate (CESU)",
            f"{HEADER}\n".encode() + b"9996704874,CPP,2026-01-05,,,\xed\xa0\x80\n",
        ),
        (
            "a line too long",
            f"{HEADER}\n9996704874,CPP,2026-01-05,,,{'x' * MAX_RECORD_CHARS}\n".encode(),
        ),
        ("an unterminated quote", f'{HEADER}\n9996704874,CPP,2026-01-05,,,"open\n'.encode()),
    ],
)
async def test_an_unreadable_csv_file_is_422_cpf01_and_changes_nothing(
    client: httpx.AsyncClient,
    camden: dict[str, str],
    owner_db: asyncpg.Connection,
    what: str,
    body: bytes,
) -> None:
    response = await _send(client, camden, body, "text/csv")
    assert response.status_code == 422, what
    problem: dict[str, Any] = response.json()
    assert (problem["file_code"], bool(problem["detail"])) == ("CPF01", True)
    assert await owner_db.fetchval("SELECT count(*) FROM plans") == 0
    assert await owner_db.fetchval("SELECT count(*) FROM uploads") == 0


async def test_deeply_nested_json_upload_is_refused_not_recursed(
    client: httpx.AsyncClient, camden: dict[str, str]
) -> None:
    nested = "[" * 2000 + "]" * 2000  # within the 4,096-character record limit
    body = f'{{"records": [{{"local_id": {nested}}}]}}'.encode()
    response = await _send(client, camden, body, "application/json")
    assert (response.status_code, response.json()["file_code"]) == (422, "CPF01")


async def test_an_upload_over_the_byte_limit_is_413(
    client: httpx.AsyncClient, camden: dict[str, str], settings: Any
) -> None:
    oversized = b"x" * (settings.max_upload_bytes + 1)
    response = await _send(client, camden, oversized, "text/csv")
    assert response.status_code == 413
