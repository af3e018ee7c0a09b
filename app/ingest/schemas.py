"""What an upload answers (CONTRACT §3.2)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

FileCode = Literal["CPF02", "CPF03", "CPF04"]
RowCode = Literal["CPR04", "CPR05", "CPR07"]
# How many rejections an acknowledgement lists; ``rejected`` always counts them all.
MAX_LISTED_REJECTIONS = 10_000


class UploadMode(StrEnum):
    DELTA = "delta"
    SNAPSHOT = "snapshot"


class Rejection(BaseModel):
    row: int = Field(description="1-based record number (the CSV header is not a record).")
    nhs_number: str | None = Field(
        description="The NHS number as sent (at most 20 characters), or null when there was none."
    )
    code: RowCode
    detail: str = Field(description="Which field is wrong and how, for the data officer.")


class UploadSummary(BaseModel):
    upload_id: uuid.UUID
    local_authority: str
    sequence: int
    mode: UploadMode
    file_code: FileCode = Field(description="CPF02 all accepted, CPF03 some, CPF04 none.")
    received: int
    accepted: int
    rejected: int
    withdrawn: int = Field(description="Plans withdrawn because a snapshot did not contain them.")


class UploadAcknowledgement(UploadSummary):
    rejections: list[Rejection] = Field(
        description=f"Rejected records in row order; at most the first {MAX_LISTED_REJECTIONS} "
        "are listed, `rejected` counts them all."
    )


class UploadListItem(UploadSummary):
    """An acknowledgement without its rejections (fetch the upload for those)."""

    created_at: datetime


class UploadPage(BaseModel):
    items: list[UploadListItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")
