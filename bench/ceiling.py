"""C_lookup: the lookup's work with nothing else, the most this machine can give.

A raw ASGI app on raw asyncpg (statements prepared once per connection by asyncpg's
statement cache), answering with JSON serialised by orjson in one call. Per request it runs
the service's own statements in the same order (app/lookup/repository.py): ``quick``
outside a transaction (harvest counts and visible plans), which answers and records a
child with no visible plan, else in a transaction ``OPEN`` (visible plans with contacts, a
free audit chain head with its seq, the child's lock for an unscheduled look at a flagged
child), the event hashed onto its chain, then the audit row alone for an unflagged child,
or ``RECORD`` (audit row, ``access`` notifications, for which the webhook-delivery trigger
fires as for the service's, history and the attendance-pattern reads) with the service's
pure pattern decision and, when a rule is reached, its ``RAISE`` statement; commit; answer.
It skips what the service adds around that: signature checks (it decodes the token's
claims unverified), schema validation, error mapping, metrics and logs.

Served by the same uvicorn options as ``cpis serve`` (app.serving)."""

from __future__ import annotations

import argparse
import base64
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import uvicorn

from app.audit import repository as audit_repository
from app.audit.chain import encoded_after_place, event_hash
from app.clock import today_in_london
from app.config import Settings
from app.db.pool import LOOKUP_SESSION, keep_session
from app.lookup import repository as lookup_repository
from app.notify.ids import notification_id
from app.patterns.repository import LOCK_CHILD, LOCK_CLASS, RAISE, raise_args
from app.patterns.rules import Attendance, rules_from_settings
from app.patterns.service import due_alerts
from app.plans.visibility import plan_status
from app.serving import UVICORN_OPTIONS, tune_garbage_collector

# The service's own statements: the ceiling must do exactly the database work the
# service does, so any change to that work moves both figures.
OPEN = lookup_repository.OPEN
RECORD = lookup_repository.RECORD
LOCK_HEAD = audit_repository._LOCK_HEAD
APPEND = audit_repository.APPEND
PLAN_FIELDS = lookup_repository.PLAN_FIELDS
JSON = [(b"content-type", b"application/json")]


def _claims(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The token's claims, NOT verified: the ceiling measures the database work only."""
    for name, value in headers:
        if name == b"authorization":
            payload = value.split(b" ", 1)[1].split(b".")[1]
            claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + b"=="))
            return claims
    raise ValueError("no token")


def _actor(claims: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    role = claims["nhsid_nrbac_roles"][0]
    actor = {"type": "health-user", "sub": claims["sub"], "name": claims["name"],
             "role_id": role["person_roleid"], "role_name": role.get("role_name"),
             "role_code": role["role_code"], "org_code": role["org_code"],
             "org_name": role.get("org_name")}  # fmt: skip
    return actor, "B0107" in role["activity_codes"]


class Ceiling:
    def __init__(self, dsn: str, pool_size: int) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None
        settings = Settings()  # the same rules and window the service reads
        self.rules = rules_from_settings(settings)
        self.quick = lookup_repository.quick(settings.harvest_window_seconds)
        self.limits = (settings.harvest_user_limit, settings.harvest_org_limit)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["path"] == "/v1/lookups":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            answer = await self.look_up(orjson.loads(body), _claims(scope["headers"]))
            await send({"type": "http.response.start", "status": 200, "headers": JSON})
            await send({"type": "http.response.body", "body": answer})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": JSON})
            await send({"type": "http.response.body", "body": b'{"ok":true}'})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    self.dsn, min_size=self.pool_size, max_size=self.pool_size,
                    reset=keep_session,  # as the service's lookup pool: no reset round trip
                    # The lookup pool's session settings (generic plans), as well.
                    server_settings={"application_name": "cpis-ceiling", "timezone": "UTC",
                                     **LOOKUP_SESSION},
                )  # fmt: skip
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def look_up(self, request: dict[str, Any], claims: dict[str, Any]) -> bytes:
        nhs = request["nhs_number"].replace(" ", "")
        setting = request["care_setting"]
        actor, may_notify = _actor(claims)
        unscheduled = request.get("unscheduled", may_notify)
        today = today_in_london()
        access_id = str(uuid.uuid4())
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            if await self._record_if_unflagged(conn, nhs, actor, unscheduled, setting, today,
                                               access_id):  # fmt: skip
                return _answer(access_id, nhs, [], "[]", today)
            return await self._look_up_flagged(conn, nhs, actor, unscheduled, setting, today,
                                               access_id)  # fmt: skip

    async def _record_if_unflagged(self, conn: Any, nhs: str, actor: dict[str, Any],
                                   unscheduled: bool, setting: str, today: Any,
                                   access_id: str) -> bool:  # fmt: skip
        """The service's ``quick`` statement, outside a transaction."""
        fields = {"kind": "lookup", "occurred_at": datetime.now(UTC), "actor_id": actor["sub"],
                  "actor": actor, "subject_nhs_number": nhs, "unscheduled": unscheduled,
                  "care_setting": setting, "request_id": access_id,
                  "detail": {"access_id": access_id, "plans_shown": 0}}  # fmt: skip
        row = await conn.fetchrow(
            self.quick, actor["sub"], actor["org_code"], nhs, today,
            self.limits[0], self.limits[1], fields["occurred_at"], orjson.dumps(actor).decode(),
            unscheduled, setting, access_id, orjson.dumps(fields["detail"]).decode(),
            encoded_after_place(fields),
        )  # fmt: skip
        return bool(row["recorded"])

    async def _look_up_flagged(self, conn: Any, nhs: str, actor: dict[str, Any],
                               unscheduled: bool, setting: str, today: Any,
                               access_id: str) -> bytes:  # fmt: skip
        async with conn.transaction():
            opened = await conn.fetchrow(OPEN, nhs, today, unscheduled)
            assert opened is not None
            plans = [dict(zip(PLAN_FIELDS, p, strict=True)) for p in opened["plans"] or ()]
            head: Any = opened
            if opened["chain"] is None:
                head = await conn.fetchrow(LOCK_HEAD, random.randrange(1 << 30))  # noqa: S311
                if unscheduled and plans:
                    await conn.execute(LOCK_CHILD, LOCK_CLASS, nhs)
            assert head is not None
            now = datetime.now(UTC)
            detail = {"access_id": access_id, "plans_shown": len(plans)}
            fields = {"seq": head["seq"], "chain": head["chain"], "kind": "lookup",
                      "occurred_at": now, "actor_id": actor["sub"], "actor": actor,
                      "subject_nhs_number": nhs, "unscheduled": unscheduled,
                      "care_setting": setting, "request_id": access_id,
                      "detail": detail}  # fmt: skip
            digest = event_hash(head["last_hash"], fields)
            event = (head["seq"], head["chain"], "lookup", now, actor["sub"],
                     orjson.dumps(actor).decode(), nhs, unscheduled, setting, access_id,
                     orjson.dumps(detail).decode(), head["last_hash"], digest)  # fmt: skip
            history = "[]"
            if not plans:
                await conn.execute(APPEND, *event)
            else:
                history = await self._record_flagged(conn, event, plans, actor, unscheduled)
        return _answer(access_id, nhs, plans, history, today)

    async def _record_flagged(self, conn: Any, event: tuple[Any, ...],
                              plans: list[dict[str, Any]], actor: dict[str, Any],
                              unscheduled: bool) -> str:  # fmt: skip
        """The service's RECORD statement and its pattern decision; the history as JSON."""
        seq, nhs, now, setting = event[0], event[6], event[3], event[8]
        types: dict[str, list[str]] = defaultdict(list)
        for plan in plans:
            types[plan["code"]].append(plan["plan_type"])
        access = {"accessed_at": now.isoformat(), "user_name": actor["name"],
                  "role_name": actor["role_name"], "org_code": actor["org_code"],
                  "org_name": actor["org_name"], "care_setting": setting}  # fmt: skip
        codes = sorted(types) if unscheduled else []
        payloads = [orjson.dumps({"nhs_number": nhs, "plan_types": sorted(set(types[c])),
                                  **access}).decode() for c in codes]  # fmt: skip
        rules = self.rules if unscheduled else ()
        since = now - max(rule.window for rule in rules) if rules else None
        row = await conn.fetchrow(RECORD, *event, [notification_id() for _ in codes], codes,
                                  payloads, since is not None, since, sorted(types),
                                  [rule.name for rule in rules])  # fmt: skip
        if rules:
            this = Attendance(seq, now, actor["name"], actor["role_name"], actor["org_code"],
                              actor["org_name"], setting)  # fmt: skip
            looks = [Attendance(*look) for look in row["looks"] or ()] + [this]
            looks.sort(key=lambda a: (a.accessed_at, a.seq))
            through = {(code, rule): at for code, rule, at in row["alerted"] or ()}
            alerts = due_alerts(nhs_number=nhs, looks=looks, alerted_through=through,
                                plan_types_by_authority=types, now=now, rules=rules)  # fmt: skip
            if alerts:
                await conn.execute(RAISE, *raise_args(nhs, alerts))
        history: str = row["history"]  # the JSON array the response carries
        return history


def _answer(access_id: str, nhs: str, plans: list[dict[str, Any]], history: str,
            today: Any) -> bytes:  # fmt: skip
    return orjson.dumps({
        "access_id": access_id, "nhs_number": nhs, "has_plans": bool(plans),
        "plans": [{"plan_type": p["plan_type"], "start_date": p["start_date"],
                   "end_date": p["end_date"], "status": plan_status(p["end_date"], today),
                   "local_authority": {"code": p["code"], "name": p["name"],
                                       "office_hours_phone": p["office_hours_phone"],
                                       "emergency_duty_phone": p["emergency_duty_phone"]}}
                  for p in plans],
        "access_history": orjson.Fragment(history),
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="serve the C_lookup ceiling")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=20)
    args = parser.parse_args()
    app = Ceiling(args.dsn, args.pool_size)
    tune_garbage_collector()  # as cpis serve does
    uvicorn.run(app, host="127.0.0.1", port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
