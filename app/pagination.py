"""The list envelope and opaque cursors shared by every paginated endpoint."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel

from app.errors import InvalidRequest

T = TypeVar("T")
MAX_CURSOR_LENGTH = 200
# Every cursor is unpadded base64url; declaring it lets clients (and fuzzers) know the shape.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _first_page_when_empty(cursor: str | None) -> str | None:
    return cursor or None


# A cursor query parameter. Sent empty (``?cursor=``, as CONTRACT §3.2 writes it), it asks
# for the first page, as leaving it out does.
CursorQuery = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN),
    AfterValidator(_first_page_when_empty),
]


class InvalidCursor(InvalidRequest):
    code = "invalid-cursor"
    title = "The cursor is not valid"


class Page(BaseModel, Generic[T]):
    """``{"items": [...], "next_cursor": ...}``: pass ``next_cursor`` back for the next page."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(*parts: int | str) -> str:
    """An opaque token for a keyset position; callers must not parse it."""
    raw = ":".join(str(part) for part in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_int_cursor(cursor: str, parts: int) -> tuple[int, ...]:
    """The integers ``encode_cursor`` packed, or ``InvalidCursor`` for anything else."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        values = tuple(int(part) for part in raw.split(":"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("the cursor was not issued by this service") from None
    # Positions are bigint keys: anything outside 0..2^63-1 was never issued (and would
    # fail in the database as a 503, not the caller's 422).
    if len(values) != parts or any(not 0 <= v < 2**63 for v in values):
        raise InvalidCursor("the cursor was not issued by this service")
    return values


def decode_text_cursor(cursor: str) -> str:
    """The single text part ``encode_cursor`` packed, or ``InvalidCursor``."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("the cursor was not issued by this service") from None
    if not raw.isprintable():
        raise InvalidCursor("the cursor was not issued by this service")
    return raw
