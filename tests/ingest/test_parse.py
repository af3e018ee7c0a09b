"""The streaming readers give the same answer however the body is cut into chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from app.ingest.errors import UnparseableFile, UploadTooLarge
from app.ingest.parse import ParsedUpload, parse_upload
from tests.ingest.helpers import HEADER
from tests.support import CHILD_A, CHILD_B

CSV = (
    f"\ufeff{HEADER}\r\n"
    f'{CHILD_A},CPP,2026-01-05,,,"a, ""b"""\r\n'
    f"{CHILD_B},LAC,2026-01-05,2026-02-01,,é\r\n"
    "bad,CPP,2026-01-05,,,\r\n\r\n"
).encode()
JSON = orjson.dumps(
    {
        "records": [
            {"nhs_number": CHILD_A, "plan_type": "CPP", "start_date": "2026-01-05"},
            {"nhs_number": CHILD_B, "plan_type": "LAC", "start_date": "2026-01-05", "x": 1},
            {"nhs_number": "bad", "plan_type": "CPP", "start_date": "2026-01-05"},
        ]
    },
    option=orjson.OPT_INDENT_2,
)


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _parse(body: bytes, size: int, content_type: str, limit: int = 1 << 20) -> ParsedUpload:
    return await parse_upload(
        _chunks(body, size), content_type=content_type, content_length=None, limit=limit
    )


def _summary(parsed: ParsedUpload) -> tuple[object, ...]:
    spooled = parsed.spool.read().decode()
    parsed.spool.close()
    return (
        parsed.received,
        parsed.loadable,
        [(r.row, r.code) for r in parsed.rejections],
        spooled,
    )


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 16])
async def test_csv_reads_the_same_in_any_chunk_size(size: int) -> None:
    assert _summary(await _parse(CSV, size, "text/csv")) == (
        3,
        2,
        [(3, "CPR04")],
        f'1,{CHILD_A},CPP,2026-01-05,,,"a, ""b""",ok\n'
        f'2,{CHILD_B},LAC,2026-01-05,2026-02-01,,"é",ok\n',
    )


@pytest.mark.parametrize("size", [1, 2, 5, 64, 1 << 16])
async def test_json_reads_the_same_in_any_chunk_size(size: int) -> None:
    received, loadable, rejections, spooled = _summary(await _parse(JSON, size, "application/json"))
    assert (received, loadable, rejections) == (3, 1, [(2, "CPR07"), (3, "CPR04")])
    assert spooled == f"1,{CHILD_A},CPP,2026-01-05,,,,ok\n2,{CHILD_B},,,,,,invalid\n"


async def test_the_byte_limit_holds_while_streaming() -> None:
    with pytest.raises(UploadTooLarge):
        await _parse(CSV, 7, "text/csv", limit=len(CSV) - 1)


async def test_a_character_split_across_chunks_decodes_but_a_truncated_one_does_not() -> None:
    assert _summary(await _parse(CSV, 1, "text/csv"))[0] == 3
    with pytest.raises(UnparseableFile, match="UTF-8"):
        await _parse(CSV.rstrip(b"\r\n").removesuffix(b"\r\n") + "é".encode()[:1], 3, "text/csv")


async def test_a_json_record_over_the_size_cap_is_cpf01() -> None:
    body = orjson.dumps({"records": [{"nhs_number": CHILD_A, "local_id": "x" * 5000}]})
    with pytest.raises(UnparseableFile, match="longer than"):
        await _parse(body, 100, "application/json")
