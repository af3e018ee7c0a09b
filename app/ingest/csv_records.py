"""CSV text → records, incrementally, with the csv module doing the quoting rules.

The csv module reads lines; a quoted field may contain newlines, so a record is
complete only when the double quotes seen since its start are balanced (every
quote is either a delimiter of a quoted field or one of an escaped pair). Whole
records are handed to ``csv.reader`` in batches; a part-record waits for more text.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, AsyncIterator

from app.ingest.errors import UnparseableFile

# A record of six short fields is well under 1 KB; anything near this is not a plans file.
MAX_RECORD_CHARS = 4096


def _too_long() -> UnparseableFile:
    return UnparseableFile(
        f"a line is longer than {MAX_RECORD_CHARS} characters (or a quoted field is never "
        "closed); this is not a plans file"
    )


def _parse(lines: list[str], before: int) -> list[list[str]]:
    try:
        return list(csv.reader(lines, strict=True))
    except csv.Error as error:
        raise UnparseableFile(
            f"the file is not valid CSV after record {before} ({error}); check its quoting"
        ) from None


async def csv_records(text: AsyncIterable[str]) -> AsyncIterator[list[list[str]]]:
    """Batches of records (header first); blank lines are skipped."""
    tail = ""  # text after the last newline
    open_lines: list[str] = []  # lines of a record whose quotes are not yet balanced
    open_chars = 0
    odd = False
    seen = 0
    async for piece in text:
        lines = (tail + piece).split("\n")
        tail = lines.pop()
        if len(tail) > MAX_RECORD_CHARS:
            raise _too_long()
        batch = open_lines
        complete = 0
        for line in lines:
            if odd or '"' in line:
                odd ^= line.count('"') % 2 == 1
            batch.append(line + "\n")
            if odd:
                open_chars += len(line) + 1
                if open_chars > MAX_RECORD_CHARS:
                    raise _too_long()
            else:
                complete = len(batch)
                open_chars = 0
            if len(line) > MAX_RECORD_CHARS:
                raise _too_long()
        open_lines = batch[complete:]
        records = [r for r in _parse(batch[:complete], seen) if r]
        seen += len(records)
        if records:
            yield records
    if tail:
        open_lines.append(tail)
        odd ^= tail.count('"') % 2 == 1
    if odd:
        raise UnparseableFile("the file ends inside a quoted field; it may have been cut short")
    records = [r for r in _parse(open_lines, seen) if r]
    if records:
        yield records
