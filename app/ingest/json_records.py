"""JSON text → records, incrementally, for the one shape an upload has.

The body is ``{"records": [{...}, ...]}``. The standard library cannot stream
JSON, so this walks the outer object and array by hand and decodes each record
(bounded in size) with ``json``'s C scanner. Only one record is a Python object at
a time, so memory stays flat however long the file is.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator

from app.ingest.errors import UnparseableFile

MAX_RECORD_CHARS = 4096
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _Scanner:
    def __init__(self, text: AsyncIterable[str]) -> None:
        self._pieces = aiter(text)
        self.buf = ""
        self.pos = 0
        self.ended = False

    async def _more(self) -> bool:
        if self.ended:
            return False
        try:
            piece = await anext(self._pieces)
        except StopAsyncIteration:
            self.ended = True
            return False
        self.buf = self.buf[self.pos :] + piece
        self.pos = 0
        return True

    async def peek(self) -> str:
        """The next non-whitespace character ('' at the end), not consumed."""
        while True:
            spaces = _WHITESPACE.match(self.buf, self.pos)
            assert spaces is not None  # the pattern matches the empty string
            self.pos = spaces.end()
            if self.pos < len(self.buf) or not await self._more():
                return self.buf[self.pos : self.pos + 1]

    async def take(self, allowed: str, where: str) -> str:
        char = await self.peek()
        if not char or char not in allowed:
            expected = " or ".join(repr(c) for c in allowed)
            raise UnparseableFile(f"the file is not valid upload JSON: expected {expected} {where}")
        self.pos += 1
        return char

    async def value(self, what: str) -> object:
        await self.peek()
        while len(self.buf) - self.pos < MAX_RECORD_CHARS and await self._more():
            pass
        try:
            value, end = _DECODER.raw_decode(self.buf, self.pos)
        except (json.JSONDecodeError, RecursionError):
            # RecursionError: a record nested deeper than the C scanner's stack allows.
            raise UnparseableFile(
                f"the file is not valid JSON at {what} (or it is longer than "
                f"{MAX_RECORD_CHARS} characters)"
            ) from None
        if end - self.pos > MAX_RECORD_CHARS:
            raise UnparseableFile(f"{what} is longer than {MAX_RECORD_CHARS} characters")
        self.pos = end
        return value


async def _records_array(scanner: _Scanner) -> AsyncIterator[object]:
    await scanner.take("[", 'after "records":')
    if await scanner.peek() == "]":
        scanner.pos += 1
        return
    number = 0
    while True:
        number += 1
        yield await scanner.value(f"record {number}")
        if await scanner.take(",]", f"after record {number}") == "]":
            return


async def json_records(text: AsyncIterable[str]) -> AsyncIterator[object]:
    """Each element of ``records`` in order; any other top-level field is CPF01."""
    scanner = _Scanner(text)
    if not await scanner.peek():
        raise UnparseableFile("the file is empty")
    await scanner.take("{", 'at the start (send {"records": [...]})')
    seen = False
    if await scanner.peek() != "}":
        while True:
            key = await scanner.value("a top-level field name")
            if not isinstance(key, str):
                raise UnparseableFile("the file is not valid JSON: field names must be strings")
            await scanner.take(":", "after a field name")
            if key != "records":
                raise UnparseableFile(
                    f'unknown top-level field "{key[:40]}": the only field is "records"'
                )
            if seen:
                raise UnparseableFile('"records" appears twice')
            seen = True
            async for record in _records_array(scanner):
                yield record
            if await scanner.take(",}", "after the records array") == "}":
                break
    else:
        scanner.pos += 1
    if await scanner.peek():
        raise UnparseableFile("the file has content after the closing }")
    if not seen:
        raise UnparseableFile('the file has no "records" array')
