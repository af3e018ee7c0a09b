"""The webhook dispatcher: a background task of the server process.

Delivery state lives in ``webhook_deliveries`` (written by a trigger when a
notification is created for an authority with a webhook), so nothing is lost when a
process stops: whatever was not recorded as delivered is posted again, with the
same ``X-CPIS-Notification-Id``. Work is claimed in short transactions with
``FOR UPDATE SKIP LOCKED`` and a lease, never held across an HTTP call.

Isolation between authorities: at most one request in flight per authority per
process, and at most ``webhook_parallel_authorities`` authorities at once, so a
slow or dead webhook costs its own authority one slot and nobody else anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import uuid
from typing import Any

import httpx
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.session import transaction
from app.notify import repository
from app.notify.feed import item_of
from app.notify.signing import webhook_headers
from app.observability.metrics import NOTIFICATION_BACKLOG

log = logging.getLogger("cpis.webhooks")
LEASE_MARGIN_SECONDS = 10.0
BACKLOG_REFRESH_SECONDS = 1.0
MAX_ERROR_LENGTH = 200
WAKE_CHANNEL = "cpis_webhook_deliveries"  # NOTIFYed by the migration's enqueue trigger


def retry_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Back-off after ``attempts`` failed tries: base·2^(n-1), capped, times U(0.5, 1)."""
    ceiling = min(cap, base * 2.0 ** min(attempts - 1, 60))
    return ceiling * rng.uniform(0.5, 1.0)


def webhook_body(row: Row[Any]) -> bytes:
    """The feed item without its cursor, as exact bytes (they are what is signed)."""
    return item_of(row, with_cursor=False).model_dump_json(exclude={"cursor"}).encode()


class WebhookDispatcher:
    """Claims due deliveries, posts them, records the outcome; start() and stop() it."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._maker = maker
        self._settings = settings
        self._transport = transport
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._inflight: dict[str, tuple[uuid.UUID, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._listener: AsyncConnection | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self._settings.webhook_timeout_seconds,
            follow_redirects=False,
            transport=self._transport,
        )
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="cpis-webhook-dispatcher")

    async def stop(self) -> None:
        """Stop claiming, let in-flight posts finish briefly, release the rest."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        pending = [task for _, task in self._inflight.values()]
        if pending:
            await asyncio.wait(pending, timeout=min(2.0, self._settings.webhook_timeout_seconds))
        abandoned = [nid for nid, task in self._inflight.values() if not task.done()]
        for _, task in self._inflight.values():
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if abandoned:
            async with transaction(self._maker) as session:
                await repository.release_claims(session, abandoned)
        if self._client is not None:
            await self._client.aclose()
        if self._listener is not None:
            driver: Any = (await self._listener.get_raw_connection()).driver_connection
            await driver.remove_listener(WAKE_CHANNEL, self._on_wake)
            await self._listener.close()

    async def _listen(self) -> None:
        """LISTEN for the enqueue trigger's NOTIFY: wake at commit instead of next poll.

        Best effort: polling alone is correct, this only cuts latency.
        """
        engine = self._maker.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            return
        try:
            self._listener = await engine.connect()
            driver: Any = (await self._listener.get_raw_connection()).driver_connection
            await driver.add_listener(WAKE_CHANNEL, self._on_wake)
        except Exception as error:
            log.warning("webhook wake-ups unavailable", extra={"error": type(error).__name__})
            if self._listener is not None:
                await self._listener.close()
                self._listener = None

    def _on_wake(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_backlog = 0.0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self._claim_and_start()
                if loop.time() >= next_backlog:
                    await self._refresh_backlog()
                    next_backlog = loop.time() + BACKLOG_REFRESH_SECONDS
            except Exception as error:  # keep dispatching; the state is in the database
                log.error("webhook dispatch failed", extra={"error": type(error).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.webhook_poll_seconds)

    async def _claim_and_start(self) -> None:
        free = self._settings.webhook_parallel_authorities - len(self._inflight)
        if free <= 0:
            return
        lease = self._settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        async with transaction(self._maker) as session:
            claims = await repository.claim_deliveries(
                session, limit=free, busy=sorted(self._inflight), lease_seconds=lease
            )
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim))
            self._inflight[claim.local_authority_code] = (claim.notification_id, task)
            task.add_done_callback(functools.partial(self._done, claim.local_authority_code))

    def _done(self, code: str, _: asyncio.Task[None]) -> None:
        self._inflight.pop(code, None)
        self._wake.set()  # a slot is free: claim again without waiting for the poll

    async def _refresh_backlog(self) -> None:
        async with transaction(self._maker) as session:
            NOTIFICATION_BACKLOG.set(await repository.delivery_backlog(session))

    async def _deliver(self, claim: Row[Any]) -> None:
        try:
            await self._post_and_record(claim)
        except Exception as error:  # the lease expires and the row is retried
            log.error("webhook result not recorded", extra={"error": type(error).__name__})

    async def _post_and_record(self, claim: Row[Any]) -> None:
        error = await self._post(claim)
        extra = {
            "local_authority": claim.local_authority_code,
            "notification_id": str(claim.notification_id),
            "attempt": claim.attempts,
        }
        async with transaction(self._maker) as session:
            if error is None:
                await repository.mark_delivered(session, claim.notification_id)
            else:
                delay = retry_delay(
                    claim.attempts,
                    base=self._settings.webhook_retry_base_seconds,
                    cap=self._settings.webhook_retry_cap_seconds,
                    rng=self._rng,
                )
                await repository.mark_failed(
                    session, claim.notification_id, error=error, retry_in=delay
                )
        if error is None:
            log.info("webhook delivered", extra=extra)
        else:
            log.warning("webhook delivery failed", extra={**extra, "error": error})

    async def _post(self, claim: Row[Any]) -> str | None:
        """POST one notification; None on a 2xx, else a short reason (no body, no values)."""
        assert self._client is not None
        body = webhook_body(claim)
        headers = webhook_headers(str(claim.notification_id), claim.webhook_secret, body)
        timeout = self._settings.webhook_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.post(claim.webhook_url, content=body, headers=headers)
        except TimeoutError:
            return f"timed out after {timeout:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"[:MAX_ERROR_LENGTH]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
