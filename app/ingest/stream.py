"""Raw request bytes → text: capped, hashed and strictly decoded as UTF-8, incrementally."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import AsyncIterable, AsyncIterator

from app.ingest.errors import UnparseableFile, UploadTooLarge

BOM = "\ufeff"


class BodyReader:
    """Reads a request body once; afterwards ``size`` and ``sha256`` describe its bytes."""

    def __init__(self, chunks: AsyncIterable[bytes], *, limit: int) -> None:
        self._chunks = chunks
        self._limit = limit
        self._hash = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> bytes:
        return self._hash.digest()

    async def text(self) -> AsyncIterator[str]:
        """Decoded text pieces; a leading byte-order mark is dropped."""
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        started = False
        async for chunk in self._chunks:
            if not chunk:
                continue
            offset = self.size
            self.size += len(chunk)
            if self.size > self._limit:
                raise UploadTooLarge(self._limit)
            self._hash.update(chunk)
            try:
                piece = decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise _not_utf8(offset + error.start) from None
            if not started and piece:
                started = True
                piece = piece.removeprefix(BOM)
            if "\x00" in piece:
                # Valid UTF-8, but text files never hold NUL: binary, or UTF-16 without a BOM.
                raise UnparseableFile("the file contains NUL bytes; it is not a UTF-8 text file")
            if piece:
                yield piece
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _not_utf8(self.size) from None


def _not_utf8(near_byte: int) -> UnparseableFile:
    return UnparseableFile(
        f"the file is not UTF-8 text (first bad byte near byte {near_byte + 1}); "
        "save it as UTF-8 CSV or JSON"
    )
