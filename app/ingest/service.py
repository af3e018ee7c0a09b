"""Receiving an upload: parse outside the transaction, then lock, stage, merge, record.

Everything that changes the database happens in the request's one transaction, so
an upload is all-or-nothing: a crash, a lost connection or a refusal part-way
leaves the authority's plans exactly as they were and its sequence number unused.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.schemas import AuditKind, NewAuditEvent
from app.auth.principals import ServiceClient, actor_of
from app.errors import Forbidden, InvalidRequest, NotFound
from app.ingest import repository
from app.ingest.errors import MassWithdrawal, SequenceConflict, StaleSequence, UnparseableFile
from app.ingest.offload import parse_upload_in_worker
from app.ingest.parse import ParsedUpload
from app.ingest.schemas import (
    MAX_LISTED_REJECTIONS,
    Rejection,
    UploadAcknowledgement,
    UploadListItem,
    UploadMode,
    UploadPage,
)
from app.observability.metrics import UPLOAD_ROWS

# The merge of a whole authority's file may take longer than a lookup is allowed to.
UPLOAD_STATEMENT_TIMEOUT_MS = 120_000
MASS_WITHDRAWAL_SHARE = 0.20


@dataclass(frozen=True)
class Uploader:
    """A service client with ``cpis:upload`` acting for an authority in the directory."""

    code: str
    actor: dict[str, Any]


@dataclass(frozen=True)
class UploadOptions:
    sequence: int
    mode: UploadMode
    allow_mass_withdrawal: bool


@dataclass(frozen=True)
class UploadBody:
    chunks: AsyncIterable[bytes]
    content_type: str | None
    content_length: str | None


@dataclass(frozen=True)
class UploadOutcome:
    acknowledgement: UploadAcknowledgement
    replayed: bool  # the same file again: the original answer, nothing changed


async def uploader_for(session: AsyncSession, client: ServiceClient) -> Uploader:
    """The authority a token uploads for: only its own ``org_code``, if in the directory."""
    code = client.org_code
    if code is None or not await repository.authority_exists(session, code):
        raise Forbidden("the token's organisation is not a local authority in the directory")
    return Uploader(code=code, actor=actor_of(client))


async def receive_upload(
    session: AsyncSession,
    uploader: Uploader,
    options: UploadOptions,
    body: UploadBody,
    *,
    max_bytes: int,
    request_id: str | None,
    today: date,
) -> UploadOutcome:
    """Check, load and acknowledge one file (CONTRACT §3.2).

    The body is read and checked before the first SQL statement, so the session's
    connection and the authority's lock are held only for the database work. The
    checking runs in a worker process (app/ingest/offload.py), off the event loop.
    """
    parsed = await parse_upload_in_worker(
        body.chunks,
        content_type=body.content_type,
        content_length=body.content_length,
        limit=max_bytes,
    )
    try:
        await repository.begin_upload(
            session, uploader.code, statement_timeout_ms=UPLOAD_STATEMENT_TIMEOUT_MS
        )
        replay = await _check_sequence(session, uploader.code, options.sequence, parsed.sha256)
        if replay is not None:  # an accepted empty snapshot too, whatever the options now
            return UploadOutcome(replay, replayed=True)
        _refuse_empty(parsed, options)
        await repository.stage(session, parsed.spool)
    finally:
        parsed.spool.close()
    ack, by_code = await _load(session, uploader.code, options, parsed, today)
    await repository.insert_upload(
        session,
        upload_id=ack.upload_id,
        code=uploader.code,
        sequence=options.sequence,
        mode=options.mode.value,
        sha256=parsed.sha256,
        acknowledgement=ack.model_dump(mode="json"),
    )
    # Last: the audit chain head stays locked until commit, so keep that short.
    await audit.record(
        session,
        NewAuditEvent(
            kind=AuditKind.UPLOAD,
            actor=uploader.actor,
            request_id=request_id,
            detail={
                "upload_id": str(ack.upload_id),
                "local_authority": uploader.code,
                "sequence": options.sequence,
                "mode": options.mode.value,
                "file_code": ack.file_code,
                "received": ack.received,
                "accepted": ack.accepted,
                "rejected": ack.rejected,
                "withdrawn": ack.withdrawn,
                "sha256": parsed.sha256.hex(),
            },
        ),
    )
    _count_rows(ack, by_code)
    return UploadOutcome(ack, replayed=False)


def _refuse_empty(parsed: ParsedUpload, options: UploadOptions) -> None:
    if parsed.received:
        return
    if options.mode is UploadMode.SNAPSHOT and options.allow_mass_withdrawal:
        return  # an empty snapshot, explicitly allowed: withdraw everything
    raise UnparseableFile(
        "the file has no records"
        + (
            "; an empty snapshot (withdraw every plan) needs allow_mass_withdrawal=true"
            if options.mode is UploadMode.SNAPSHOT
            else ""
        )
    )


async def _check_sequence(
    session: AsyncSession, code: str, sequence: int, sha256: bytes
) -> UploadAcknowledgement | None:
    """The stored answer for a byte-identical replay; 409 for any other reuse or step back."""
    existing = await repository.find_by_sequence(session, code, sequence)
    if existing is not None:
        if existing.content_sha256 != sha256:
            raise SequenceConflict(
                f"sequence {sequence} was already accepted with different content; "
                "send changes under a new, higher sequence number"
            )
        return UploadAcknowledgement.model_validate(existing.acknowledgement)
    highest = await repository.highest_sequence(session, code)
    if highest is not None and sequence < highest:
        raise StaleSequence(
            f"sequence {sequence} is lower than {highest}, already accepted; sequences must grow"
        )
    return None


async def _load(
    session: AsyncSession, code: str, options: UploadOptions, parsed: ParsedUpload, today: date
) -> tuple[UploadAcknowledgement, dict[str, int]]:
    """Mark database-found rejections, guard a snapshot, merge, withdraw; the answer."""
    superseded = await repository.mark_superseded(session, listed=MAX_LISTED_REJECTIONS)
    duplicates = await repository.mark_duplicates(session, listed=MAX_LISTED_REJECTIONS)
    withdrawn = 0
    if options.mode is UploadMode.SNAPSHOT:
        visible, missing = await repository.count_withdrawals(session, code, today)
        if missing > MASS_WITHDRAWAL_SHARE * visible and not options.allow_mass_withdrawal:
            raise MassWithdrawal(
                f"this snapshot would withdraw {missing} of the authority's {visible} visible "
                "plans (more than 20 %); check the file is complete, or resend with "
                "allow_mass_withdrawal=true",
                extra={"withdrawing": missing, "visible": visible},
            )
    await repository.merge_staged(session, code)
    if options.mode is UploadMode.SNAPSHOT:
        withdrawn = await repository.withdraw_missing_plans(session, code, today)
    accepted = parsed.loadable - superseded.total - duplicates.total
    rejections = _all_rejections(parsed.rejections, superseded, duplicates)
    rejected = parsed.received - accepted
    by_code = dict(parsed.rejected_by_code)
    by_code["CPR05"] = by_code.get("CPR05", 0) + superseded.total
    by_code["CPR07"] = by_code.get("CPR07", 0) + duplicates.total
    ack = UploadAcknowledgement(
        upload_id=uuid.uuid4(),
        local_authority=code,
        sequence=options.sequence,
        mode=options.mode,
        file_code="CPF02" if rejected == 0 else ("CPF04" if accepted == 0 else "CPF03"),
        received=parsed.received,
        accepted=accepted,
        rejected=rejected,
        withdrawn=withdrawn,
        rejections=rejections,
    )
    return ack, by_code


def _all_rejections(
    found: list[Rejection], superseded: repository.Marked, duplicates: repository.Marked
) -> list[Rejection]:
    """Rejections from parsing and from the database, merged into row order, capped."""
    extra = [
        Rejection(
            row=hit["record_no"],
            nhs_number=hit["nhs_number"],
            code="CPR05",
            detail="nhs_number has been superseded; send the plan under the child's current "
            "NHS number"
            if hit["replaced"]
            else "nhs_number is marked inactive; check the child's NHS number",
        )
        for hit in superseded.listed
    ] + [
        Rejection(
            row=hit["record_no"],
            nhs_number=hit["nhs_number"],
            code="CPR07",
            detail="the same plan (nhs_number, plan_type, start_date) is already at row "
            f"{hit['first_no']}; each plan may appear once per file",
        )
        for hit in duplicates.listed
    ]
    merged = sorted(found + extra, key=lambda r: r.row)
    return merged[:MAX_LISTED_REJECTIONS]


def _count_rows(ack: UploadAcknowledgement, by_code: dict[str, int]) -> None:
    UPLOAD_ROWS.labels("CPR06").inc(ack.accepted)
    for row_code, count in by_code.items():
        if count:
            UPLOAD_ROWS.labels(row_code).inc(count)


async def get_upload(
    session: AsyncSession, uploader: Uploader, upload_id: uuid.UUID
) -> UploadAcknowledgement:
    """The stored acknowledgement; another authority's upload is as missing as an unknown one."""
    stored = await repository.get_upload(session, uploader.code, upload_id)
    if stored is None:
        raise NotFound("no such upload")
    return UploadAcknowledgement.model_validate(stored)


def _encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"u1:{sequence}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "u1" or not number.isdigit() or int(number) >= 2**63:  # bigint
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("cursor is not one this service issued") from None


async def list_uploads(
    session: AsyncSession, uploader: Uploader, *, cursor: str | None, limit: int
) -> UploadPage:
    """The authority's own uploads, newest first, keyset-paginated."""
    before = None if cursor is None else _decode_cursor(cursor)
    rows = await repository.list_uploads(
        session, uploader.code, before_sequence=before, limit=limit + 1
    )
    items = [
        UploadListItem.model_validate({**row.summary, "created_at": row.created_at})
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return UploadPage(items=items, next_cursor=_encode_cursor(items[-1].sequence) if more else None)
