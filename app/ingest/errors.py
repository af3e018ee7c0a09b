"""The ways an upload is refused; each uses up no sequence number (CONTRACT §3.2)."""

from __future__ import annotations

from typing import Any

from app.errors import Conflict, InvalidRequest, PayloadTooLarge


class UnparseableFile(InvalidRequest):
    """422 with ``file_code: CPF01``: nothing in the file could be loaded, nothing stored."""

    code = "unparseable-file"
    title = "The file cannot be read as an upload (CPF01)"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, extra={"file_code": "CPF01"}, **kwargs)


class UploadTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than this service accepts ({limit} bytes)")


class SequenceConflict(Conflict):
    code = "sequence-conflict"
    title = "This sequence number was already used for a different file"


class StaleSequence(Conflict):
    code = "stale-sequence"
    title = "This sequence number is lower than one already accepted"


class MassWithdrawal(Conflict):
    code = "mass-withdrawal"
    title = "The snapshot would withdraw more than 20 % of the authority's visible plans"
