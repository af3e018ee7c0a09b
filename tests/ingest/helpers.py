"""Sending uploads through the real endpoint, and reading what they left behind."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.conftest import Tokens, bearer
from tests.support import CAMDEN

HEADER = "nhs_number,plan_type,start_date,end_date,delete_date,local_id"


def csv_body(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode()


async def upload(
    client: httpx.AsyncClient,
    tokens: Tokens,
    body: bytes,
    *,
    sequence: int = 1,
    org: str = CAMDEN,
    content_type: str = "text/csv",
    **params: Any,
) -> httpx.Response:
    query: dict[str, Any] = {"sequence": sequence, **params}
    return await client.post(
        "/v1/uploads",
        params=query,
        content=body,
        headers={**bearer(tokens.la(org=org)), "Content-Type": content_type},
    )


async def plans_of(db: asyncpg.Connection, authority: str = CAMDEN) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT nhs_number, plan_type, start_date, end_date, delete_date, local_id,"
        " withdrawn_at IS NOT NULL AS withdrawn FROM plans WHERE local_authority_code = $1"
        " ORDER BY nhs_number, plan_type, start_date",
        authority,
    )
    return [tuple(r) for r in rows]


async def upload_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM uploads"))


def rejection_codes(response: httpx.Response) -> list[tuple[int, str]]:
    return [(r["row"], r["code"]) for r in response.json()["rejections"]]
