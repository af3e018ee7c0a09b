"""A request body → checked records spooled for COPY, plus the rejections found so far.

Nothing here touches the database: the whole body is read, hashed and checked
before the upload's transaction starts, so a slow sender never holds a
connection or a lock. Valid records are written to a spool file in PostgreSQL's
CSV format; only the rejections listed in the acknowledgement stay in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import IO

from app.ingest.csv_records import csv_records
from app.ingest.errors import UnparseableFile, UploadTooLarge
from app.ingest.json_records import json_records
from app.ingest.rows import FIELDS, CheckedRecord, check_record
from app.ingest.schemas import MAX_LISTED_REJECTIONS, Rejection
from app.ingest.stream import BodyReader

SPOOL_IN_MEMORY_BYTES = 1 << 20  # larger spools go to a temporary file
_FIELD_SET = frozenset(FIELDS)


@dataclass
class ParsedUpload:
    """What the file held; ``spool`` has one CSV line per record to stage."""

    sha256: bytes
    received: int
    loadable: int  # records that passed every check made without the database
    spool: IO[bytes]
    rejections: list[Rejection] = field(default_factory=list)
    rejected_by_code: dict[str, int] = field(default_factory=dict)


def _spool_line(row: int, record: CheckedRecord) -> str:
    """``record_no,nhs_number,plan_type,start,end,delete,local_id,state`` for COPY (FORMAT csv).

    Unquoted empty fields are NULL. local_id is always quoted (it may hold commas).
    A rejected record with a valid NHS number is staged too, as ``invalid``, so that a
    snapshot never withdraws the plans of a child whose row had a mistake in it.
    """
    if record.problems:
        return f"{row},{record.nhs_number},,,,,,invalid\n"
    plan_type, start, end, delete, local_id = record.values
    quoted = "" if local_id is None else '"' + local_id.replace('"', '""') + '"'
    return f"{row},{record.nhs_number},{plan_type},{start},{end or ''},{delete or ''},{quoted},ok\n"


class _Collector:
    def __init__(self) -> None:
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - handed to the caller, who closes it
        self.received = 0
        self.loadable = 0
        self.rejections: list[Rejection] = []
        self.by_code: dict[str, int] = {}

    def add_batch(self, batch: Sequence[CheckedRecord | str]) -> None:
        lines = []
        for item in batch:
            self.received += 1
            if isinstance(item, str):
                self._reject(None, "CPR07", item)
                continue
            if item.problems:
                self._reject(item.nhs_number, item.code, "; ".join(item.problems))
                if not item.nhs_valid:
                    continue
            else:
                self.loadable += 1
            lines.append(_spool_line(self.received, item))
        self.spool.write("".join(lines).encode())

    def _reject(self, nhs_number: str | None, code: str, detail: str) -> None:
        self.by_code[code] = self.by_code.get(code, 0) + 1
        if len(self.rejections) < MAX_LISTED_REJECTIONS:
            self.rejections.append(
                Rejection(row=self.received, nhs_number=nhs_number, code=code, detail=detail)
            )


def _csv_header(header: list[str]) -> list[int]:
    """Where each of FIELDS is in a record; the header may list them in any order."""
    names = [name.strip().lower() for name in header]
    missing = [f for f in FIELDS if f not in names]
    unknown = [n[:40] for n in names if n not in _FIELD_SET]
    if missing or unknown or len(names) != len(FIELDS):
        found = "; ".join(
            part
            for part in (
                f"missing: {', '.join(missing)}" if missing else "",
                f"unknown: {', '.join(unknown)}" if unknown else "",
            )
            if part
        )
        raise UnparseableFile(
            f"the first line must be the header {','.join(FIELDS)}"
            + (f" ({found})" if found else " (each column once)")
        )
    return [names.index(f) for f in FIELDS]


async def _checked_csv(text: AsyncIterable[str]) -> AsyncIterator[list[CheckedRecord | str]]:
    positions: list[int] | None = None
    pick = itemgetter(*range(len(FIELDS)))
    async for records in csv_records(text):
        if positions is None:
            positions = _csv_header(records[0])
            pick = itemgetter(*positions)
            records = records[1:]
        out: list[CheckedRecord | str] = []
        for values in records:
            if len(values) != len(FIELDS):
                out.append(f"the record has {len(values)} fields; expected {len(FIELDS)}")
            else:
                out.append(check_record(pick(values)))
        yield out
    if positions is None:
        raise UnparseableFile("the file is empty")


def _check_json_record(record: object) -> CheckedRecord | str:
    if not isinstance(record, dict):
        return "the record is not a JSON object"
    checked = check_record(tuple(record.get(f) for f in FIELDS))
    unknown = sorted(str(k)[:40] for k in record if k not in _FIELD_SET)
    if not unknown:
        return checked
    problem = f"unknown field(s) {', '.join(unknown[:5])}; allowed: {', '.join(FIELDS)}"
    return replace(checked, problems=(*checked.problems, problem))


async def _checked_json(text: AsyncIterable[str]) -> AsyncIterator[list[CheckedRecord | str]]:
    batch: list[CheckedRecord | str] = []
    async for record in json_records(text):
        batch.append(_check_json_record(record))
        if len(batch) >= 1000:
            yield batch
            batch = []
    if batch:
        yield batch


def media_type(content_type: str | None) -> str:
    """``csv`` or ``json`` from a Content-Type header; anything else is CPF01."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        return "csv"
    if kind == "application/json":
        return "json"
    raise UnparseableFile("send the file as Content-Type text/csv or application/json")


async def parse_upload(
    body: AsyncIterable[bytes],
    *,
    content_type: str | None,
    content_length: str | None,
    limit: int,
) -> ParsedUpload:
    """Read, hash and check a whole upload; CPF01/413 errors raise, bad records are collected."""
    if content_length and content_length.isdigit() and int(content_length) > limit:
        raise UploadTooLarge(limit)
    kind = media_type(content_type)
    reader = BodyReader(body, limit=limit)
    collector = _Collector()
    batches = _checked_csv(reader.text()) if kind == "csv" else _checked_json(reader.text())
    try:
        async for batch in batches:
            collector.add_batch(batch)
    except BaseException:
        collector.spool.close()
        raise
    collector.spool.seek(0)
    return ParsedUpload(
        sha256=reader.sha256,
        received=collector.received,
        loadable=collector.loadable,
        spool=collector.spool,
        rejections=collector.rejections,
        rejected_by_code=collector.by_code,
    )
