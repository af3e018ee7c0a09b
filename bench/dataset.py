"""An England-sized dataset: plans across the 153 authorities and a long audit trail.

Generated in Python, reproducibly (fixed seeds), and loaded with binary COPY as the
schema owner. The audit trail is a real one: every event's hash is computed with
``app.audit.chain.event_hash`` over its chain's previous hash, and the chain heads and
``audit_events_seq`` are left where the service expects them, so ``cpis audit verify``
passes and the service appends to the same chains.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.audit.chain import event_hash
from app.auth import dev_tokens
from app.demo import drama_phones, synthetic_nhs_numbers
from app.patterns.rules import AttendanceRule
from bench.profiles import Profile

PLANS_PER_CHILD = 1.25  # 80 % one plan, 15 % two, 5 % three
CARE_SETTINGS = (
    ("emergency-department", 55), ("urgent-treatment-centre", 12), ("minor-injury-unit", 10),
    ("walk-in-centre", 6), ("gp-out-of-hours", 5), ("nhs-111", 4), ("ambulance", 3),
    ("maternity", 2), ("paediatric-ward", 2), ("general-practice", 1),
)  # fmt: skip
EVENT_SPAN = timedelta(days=730)
ORGS = 1_200  # unscheduled-care settings in England


@dataclass(frozen=True)
class People:
    children: list[str]  # may hold plans (drawn in order until the plan count is reached)
    unflagged: list[str]  # never hold a plan


def people(profile: Profile) -> People:
    children = round(profile.plans / PLANS_PER_CHILD)
    unflagged = max(children // 2, 1_000)
    pool = synthetic_nhs_numbers(children + unflagged, seed=6)
    return People(pool[:children], pool[children:])


def user_sub(user: int) -> str:
    return f"bench-user-{user:05d}"


def user_org(user: int) -> str:
    return f"X{user % ORGS:04d}"


def user_activity(user: int) -> str:
    """One user in ten may only read silently (B0170); the rest hold B0107."""
    return "B0170" if user % 10 == 9 else "B0107"


def user_claims(user: int) -> dict[str, Any]:
    return dev_tokens.clinician_claims(
        org=user_org(user),
        activity=(user_activity(user),),
        name=f"Bench Clinician {user:05d}",
        sub=user_sub(user),
    )


def user_actor(user: int) -> dict[str, Any]:
    """The actor record the service writes for ``user_claims(user)`` (see actor_of)."""
    role = user_claims(user)["nhsid_nrbac_roles"][0]
    return {
        "type": "health-user",
        "sub": user_sub(user),
        "name": f"Bench Clinician {user:05d}",
        "role_id": role["person_roleid"],
        "role_name": role["role_name"],
        "role_code": role["role_code"],
        "org_code": role["org_code"],
        "org_name": role["org_name"],
    }


# --- plans -------------------------------------------------------------------------


def _plan_type(rng: random.Random) -> str:
    draw = rng.random()
    return "CPP" if draw < 0.42 else "LAC" if draw < 0.92 else "UCPP"


def plan_records(
    profile: Profile, children: Sequence[str], codes: Sequence[str], today: date
) -> Iterator[tuple[Any, ...]]:
    """(authority, nhs, type, start, end, delete, local_id, withdrawn_at) rows.

    Authorities differ in size (log-normal weights); some children hold several plans in
    turn, some moving authority; about a third of the newest plans have ended (most still
    visible for 12 months), a few carry a delete date, 2 % were withdrawn by a snapshot.
    """
    rng = random.Random(7)  # noqa: S311 - reproducible synthetic data
    weights = [rng.lognormvariate(0, 0.6) for _ in codes]
    now = datetime.now(UTC)
    made = 0
    for index, nhs in enumerate(children):
        if made >= profile.plans:
            return
        draw = rng.random()
        count = min(1 if draw < 0.8 else 2 if draw < 0.95 else 3, profile.plans - made)
        code = rng.choices(codes, weights)[0]
        start = today - timedelta(days=rng.randrange(900, 2500))
        for turn in range(count):
            kind = _plan_type(rng)
            last = turn == count - 1
            end: date | None = None
            if not last:
                end = start + timedelta(days=rng.randrange(60, 400))
            elif rng.random() < 0.3:
                end = start + timedelta(days=rng.randrange(30, 900))
            delete = end + timedelta(days=183) if end and rng.random() < 0.03 else None
            withdrawn = now if rng.random() < 0.02 else None
            yield (code, nhs, kind, start, end, delete, f"B{index:07d}-{turn}", withdrawn)
            made += 1
            if end is not None:
                start = end + timedelta(days=rng.randrange(1, 30))
            if rng.random() < 0.3:
                code = rng.choices(codes, weights)[0]


PLAN_COLUMNS = [
    "local_authority_code", "nhs_number", "plan_type", "start_date", "end_date",
    "delete_date", "local_id", "withdrawn_at",
]  # fmt: skip


async def load_plans(conn: asyncpg.Connection, profile: Profile, folk: People) -> int:
    codes = [
        r["code"] for r in await conn.fetch("SELECT code FROM local_authorities ORDER BY code")
    ]
    for index, code in enumerate(codes):
        office, duty = drama_phones(index)
        await conn.execute(
            "UPDATE local_authorities SET office_hours_phone = $2, emergency_duty_phone = $3"
            " WHERE code = $1",
            code,
            office,
            duty,
        )
    rows = list(plan_records(profile, folk.children, codes, datetime.now(UTC).date()))
    await conn.copy_records_to_table("plans", records=rows, columns=PLAN_COLUMNS)
    return len(rows)


# --- the audit trail ---------------------------------------------------------------

EVENT_COLUMNS = [
    "seq", "chain", "kind", "occurred_at", "actor_id", "actor", "subject_nhs_number",
    "unscheduled", "care_setting", "request_id", "detail", "prev_hash", "hash",
]  # fmt: skip


class TrailWriter:
    """Builds events in seq order, each hashed onto its chain's previous hash."""

    def __init__(self, profile: Profile, folk: People, codes: Sequence[str], chains: int) -> None:
        self.rng = random.Random(8)  # noqa: S311 - reproducible synthetic data
        self.profile = profile
        self.folk = folk
        self.heads: list[tuple[int, bytes] | None] = [None] * chains
        self.actors = [user_actor(u) for u in range(profile.users)]
        self.actor_json = [orjson.dumps(a).decode() for a in self.actors]
        self.services = [
            {"type": "service", "sub": f"la-system-{c}", "org_code": c,
             "scopes": "cpis:history cpis:notifications cpis:upload"}
            for c in codes
        ]  # fmt: skip
        self.service_json = [orjson.dumps(s).decode() for s in self.services]
        settings, weights = zip(*CARE_SETTINGS, strict=True)
        self.settings = rng_table(self.rng, settings, weights, 4096)
        self.start = datetime.now(UTC) - EVENT_SPAN - timedelta(hours=1)
        self.step_us = int(EVENT_SPAN.total_seconds() * 1e6) // max(profile.events, 1)

    def _subject(self) -> str:
        rng, folk = self.rng, self.folk
        if rng.random() < 0.75:  # flagged children are looked up again and again; skewed
            return folk.children[int(len(folk.children) * rng.random() ** 1.5)]
        return folk.unflagged[int(len(folk.unflagged) * rng.random())]

    def _content(
        self, seq: int
    ) -> tuple[str, int, str, str | None, bool | None, str | None, dict[str, Any]]:
        """(kind, actor index (<0: service), actor json, subject, unscheduled, setting, detail)."""
        rng = self.rng
        draw = rng.random()
        if draw < 0.95:
            user = int(rng.random() * len(self.actors))
            unscheduled = user_activity(user) == "B0107" and rng.random() < 0.9
            subject = self._subject()
            detail = {"access_id": f"00000000-0000-4000-8000-{seq:012x}",
                      "plans_shown": int(subject[-1] < "7")}  # fmt: skip
            setting = self.settings[seq & 4095]
            return "lookup", user, self.actor_json[user], subject, unscheduled, setting, detail
        service = int(rng.random() * len(self.services))
        if draw < 0.98:
            return ("history-search", -1 - service, self.service_json[service], self._subject(),
                    None, None, {"results": int(rng.random() * 40)})  # fmt: skip
        if draw < 0.995:
            return ("upload", -1 - service, self.service_json[service], None, None, None,
                    {"sequence": seq, "accepted": int(rng.random() * 5000)})  # fmt: skip
        user = int(rng.random() * len(self.actors))
        detail = {"method": "POST", "route": "/v1/lookups", "reason": "bench: no activity"}
        return "access-denied", user, self.actor_json[user], None, None, None, detail

    def record(self, seq: int) -> tuple[Any, ...]:
        kind, who, who_json, subject, unscheduled, setting, detail = self._content(seq)
        actor = self.actors[who] if who >= 0 else self.services[-1 - who]
        chain = seq % len(self.heads)
        head = self.heads[chain]
        prev = head[1] if head else None
        fields = {
            "seq": seq, "chain": chain, "kind": kind,
            "occurred_at": self.start + timedelta(microseconds=seq * self.step_us),
            "actor_id": actor["sub"], "actor": actor, "subject_nhs_number": subject,
            "unscheduled": unscheduled, "care_setting": setting,
            "request_id": f"00000000-0000-4000-9000-{seq:012x}", "detail": detail,
        }  # fmt: skip
        digest = event_hash(prev, fields)
        self.heads[chain] = (seq, digest)
        return (seq, chain, kind, fields["occurred_at"], actor["sub"], who_json, subject,
                unscheduled, setting, fields["request_id"], orjson.dumps(detail).decode(),
                prev, digest)  # fmt: skip

    async def records(self, batch: int = 20_000) -> AsyncIterator[tuple[Any, ...]]:
        for first in range(1, self.profile.events + 1, batch):
            for seq in range(first, min(first + batch, self.profile.events + 1)):
                yield self.record(seq)


def rng_table(
    rng: random.Random, values: Sequence[str], weights: Sequence[int], n: int
) -> list[str]:
    """A lookup table of ``n`` weighted draws, so the hot loop indexes instead of sampling."""
    return rng.choices(list(values), list(weights), k=n)


# --- the alerts that trail raised ---------------------------------------------------

# A service that recorded the trail would have raised attendance-pattern alerts as it
# went, and its attendance_alerts would say how far each (child, authority, rule) had
# been alerted on. Replaying the rules over 10 M events is slow, so this takes the state
# at the trail's end as a busy service leaves it: every flagged child alerted on through
# its last unscheduled look, once per responsible authority (any plan, ended or not) and
# rule, each alert with its notification. Looks made after that count afresh.
PRIOR_ALERTS = """
    WITH rules AS (
      SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS r(rule, days, threshold)
    ), last_look AS (
      SELECT subject_nhs_number AS nhs, max(occurred_at) AS at
      FROM audit_events WHERE kind = 'lookup' AND unscheduled
      GROUP BY subject_nhs_number
    ), alert AS (
      SELECT gen_random_uuid() AS id, p.nhs, p.code, l.at, r.rule, r.days, r.threshold
      FROM (SELECT DISTINCT nhs_number AS nhs, local_authority_code AS code FROM plans) p
      JOIN last_look l ON l.nhs = p.nhs
      CROSS JOIN rules r
    ), notified AS (
      INSERT INTO notifications (id, local_authority_code, type, nhs_number, created_at, payload)
      SELECT id, code, 'attendance-pattern', nhs, at,
             jsonb_build_object('nhs_number', nhs, 'rule', rule, 'window_days', days,
                                'threshold', threshold, 'attendances', '[]'::jsonb)
      FROM alert
    )
    INSERT INTO attendance_alerts (nhs_number, local_authority_code, rule, window_days,
      first_attended_at, last_attended_at, attendances, notification_id, created_at)
    SELECT nhs, code, rule, days, at, at, threshold, id, at FROM alert
    """


async def load_prior_alerts(conn: asyncpg.Connection, rules: Sequence[AttendanceRule]) -> int:
    """The alerts the trail raised (PRIOR_ALERTS); how many."""
    status = await conn.execute(
        PRIOR_ALERTS,
        [r.name for r in rules],
        [r.window_days for r in rules],
        [r.threshold for r in rules],
    )
    return int(status.split()[-1])
