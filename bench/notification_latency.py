"""Notification end-to-end latency: lookup committed -> webhook received.

Starts a throwaway embedded PostgreSQL (or uses DATABASE_URL), migrates it, gives one
authority a plan for a test child and a webhook pointing at a local receiver, then
runs N unscheduled lookups through the real app (in process, dispatcher included)
one after another with a short gap, and reports p50/p99/max of the time from the
lookup's response (its transaction commits before the response is sent) to the
webhook POST arriving at the receiver.

    .venv/bin/python bench/notification_latency.py [--lookups 300] [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from app.auth import dev_tokens
from app.auth.keys import ensure_dev_key
from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.runtime import open_database
from app.db.session import DatabaseURLs
from app.main import create_app

CHILD = "9996704874"
CAMDEN = "E09000007"


class Receiver:
    """Records the arrival time of each notification id; answers 204 at once."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                now = time.perf_counter()
                headers = dict(line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.arrived.setdefault(headers["x-cpis-notification-id"].strip(), now)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


# The access notification and the lookup's audit event share their timestamp.
_NOTIFICATION_OF_LOOKUP = """
    SELECT n.id, a.detail->>'access_id' AS access_id
    FROM notifications n JOIN audit_events a
      ON a.kind = 'lookup' AND a.occurred_at = (n.payload->>'accessed_at')::timestamptz
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(settings: Settings, urls: DatabaseURLs, lookups: int, gap: float) -> None:
    receiver = Receiver()
    url = await receiver.start()
    owner = await asyncpg.connect(urls.owner)
    await owner.execute(
        "INSERT INTO plans (local_authority_code, nhs_number, plan_type, start_date)"
        " VALUES ($1, $2, 'CPP', current_date) ON CONFLICT DO NOTHING",
        CAMDEN,
        CHILD,
    )
    await owner.execute(
        "UPDATE local_authorities SET webhook_url = $2, webhook_secret = $3 WHERE code = $1",
        CAMDEN,
        url,
        "benchmark-secret-0123456789",
    )
    key = ensure_dev_key(settings.dev_key_path)
    token = dev_tokens.mint_token(
        key,
        issuer=settings.issuer,
        audience=settings.audience,
        claims=dev_tokens.clinician_claims(activity=("B0107",)),
    )
    app = create_app(settings, urls)
    committed: list[tuple[str, float, float]] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            body = {"nhs_number": CHILD, "care_setting": "emergency-department"}
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(lookups):
                sent = time.perf_counter()
                response = await client.post("/v1/lookups", json=body, headers=headers)
                response.raise_for_status()
                committed.append((response.json()["access_id"], sent, time.perf_counter()))
                await asyncio.sleep(gap)
            pairs = await owner.fetch(_NOTIFICATION_OF_LOOKUP)
            deadline = time.perf_counter() + 30
            # A bounded wait for stragglers.
            while len(receiver.arrived) < len(pairs) and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    await owner.close()
    report(committed, {r["access_id"]: str(r["id"]) for r in pairs}, receiver.arrived)


def report(
    committed: list[tuple[str, float, float]],
    notification_of: dict[str, str],
    arrived: dict[str, float],
) -> None:
    from_commit, from_send = [], []
    for access_id, sent, done in committed:
        received = arrived.get(notification_of.get(access_id, ""))
        if received is not None:
            from_commit.append((received - done) * 1000)
            from_send.append((received - sent) * 1000)
    print(
        f"lookups: {len(committed)}, notifications: {len(notification_of)}, "
        f"received: {len(arrived)}, paired: {len(from_commit)}"
    )
    for label, values in (("commit -> webhook", from_commit), ("request -> webhook", from_send)):
        print(
            f"{label:>20}: p50 {percentile(values, 0.5):6.1f} ms  "
            f"p99 {percentile(values, 0.99):6.1f} ms  max {max(values):6.1f} ms  "
            f"mean {statistics.fmean(values):6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpis-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)
        with open_database(settings) as urls:
            upgrade_to_head(urls.owner)
            asyncio.run(measure(settings, urls, args.lookups, args.gap_ms / 1000))


if __name__ == "__main__":
    main()
