"""The hash chain that makes the audit trail tamper-evident.

Each event's hash is SHA-256 over the previous hash of *its chain* followed by a
canonical JSON encoding of every stored field, seq included. Altering a field
breaks that event's hash; inserting, deleting or reordering events breaks the next
event's ``prev_hash``; deleting a chain's newest events breaks the chain head.

There are several chains (rows of ``audit_chain_heads``) so concurrent lookups do
not all queue behind one row lock: an append locks one free head, draws ``seq``
while holding it and commits, so within a chain ``seq`` order is commit order.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson


def canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: bytes | None, fields: dict[str, Any]) -> bytes:
    """Hash of one event given its chain predecessor's hash and its stored fields.

    ``fields`` holds exactly: seq, chain, kind, occurred_at, actor_id, actor,
    subject_nhs_number, unscheduled, care_setting, request_id, detail.
    """
    head = f"[{fields['seq']},{fields['chain']},".encode()
    return hashlib.sha256((prev_hash or b"") + head + encoded_after_place(fields)).digest()


# The canonical encoding is orjson's compact JSON array of the fields, keys sorted:
# "[seq,chain," followed by encoded_after_place. A statement that draws seq and chain
# itself can hash an event in SQL from that suffix with exactly this expression.
SQL_EVENT_HASH = (
    "sha256(coalesce({prev}, ''::bytea)"
    " || convert_to('[' || {seq} || ',' || {chain} || ',', 'UTF8') || {rest})"
)


def encoded_after_place(fields: dict[str, Any]) -> bytes:
    """The canonical encoding of an event's fields after seq and chain (see event_hash)."""
    return orjson.dumps(
        [
            fields["kind"],
            canonical_time(fields["occurred_at"]),
            fields["actor_id"],
            fields["actor"],
            fields["subject_nhs_number"],
            fields["unscheduled"],
            fields["care_setting"],
            fields["request_id"],
            fields["detail"],
        ],
        option=orjson.OPT_SORT_KEYS,
    )[1:]
