"""Load many valid, hash-chained audit events quickly, for measuring verify and history.

Appending through the service's chained append costs a round trip per event; this
builds the same events in Python (hashing them with app.audit.chain.event_hash, the
reference encoding) and COPYs them in as the schema owner, holding every chain head
locked so no live append can interleave. Synthetic data only (999-range NHS numbers).

    .venv/bin/python bench/load_audit_events.py --events 1000000
    .venv/bin/cpis audit verify

It reaches the same database as ``cpis serve`` (DATABASE_URL, or the embedded
server under CPIS_DATA_DIR / .cpis, started if needed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.audit.chain import event_hash
from app.config import get_settings
from app.db.migrate import upgrade_to_head
from app.db.runtime import open_database
from app.nhs_number import check_digit

COLUMNS = [
    "seq",
    "chain",
    "kind",
    "occurred_at",
    "actor_id",
    "actor",
    "subject_nhs_number",
    "unscheduled",
    "care_setting",
    "request_id",
    "detail",
    "prev_hash",
    "hash",
]
SETTINGS = ["emergency-department", "minor-injury-unit", "walk-in-centre", "gp-out-of-hours"]
BATCH = 50_000


def test_numbers(count: int, rng: random.Random) -> list[str]:
    """Valid NHS numbers in the 999 test range."""
    numbers: set[str] = set()
    while len(numbers) < count:
        nine = f"999{rng.randrange(10**6):06d}"
        digit = check_digit(nine)
        if digit is not None:
            numbers.add(f"{nine}{digit}")
    return sorted(numbers)


def actors(rng: random.Random, count: int = 500) -> list[dict[str, Any]]:
    return [
        {
            "type": "health-user",
            "sub": f"user-{i:05d}",
            "name": f"Clinician {i}",
            "role_id": f"5550{i:08d}",
            "role_name": rng.choice(["Clinical Practitioner", "Nurse", "Receptionist"]),
            "role_code": "S8000:G8000:R8000",
            "org_code": f"R{rng.randrange(100, 400)}{rng.randrange(10)}",
            "org_name": "Synthetic Hospital ED",
        }
        for i in range(count)
    ]


def synthetic_events(
    n: int, first_seq: int, chains: list[int], rng: random.Random, children: int
) -> Iterator[dict[str, Any]]:
    numbers = test_numbers(children, rng)
    people = actors(rng)
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    for i in range(n):
        actor = rng.choice(people)
        unscheduled = rng.random() < 0.9
        yield {
            "seq": first_seq + i,
            "chain": rng.choice(chains),
            "kind": "lookup",
            "occurred_at": start + step * i,
            "actor_id": actor["sub"],
            "actor": actor,
            "subject_nhs_number": rng.choice(numbers),
            "unscheduled": unscheduled,
            "care_setting": rng.choice(SETTINGS),
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "detail": {
                "access_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "plans_shown": rng.randrange(2),
            },
        }


async def load(owner_url: str, n: int, children: int, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by seed
    conn = await asyncpg.connect(owner_url)
    try:
        async with conn.transaction():
            heads = {
                r["chain"]: r["last_hash"]
                for r in await conn.fetch(
                    "SELECT chain, last_hash FROM audit_chain_heads ORDER BY chain FOR UPDATE"
                )
            }
            first = await conn.fetchval("SELECT nextval('audit_events_seq')")
            await conn.execute("SELECT setval('audit_events_seq', $1)", first + n - 1)
            last_seq: dict[int, int] = {}
            batch: list[tuple[Any, ...]] = []
            for fields in synthetic_events(n, first, list(heads), rng, children):
                chain = fields["chain"]
                digest = event_hash(heads[chain], fields)
                batch.append(
                    tuple(
                        [
                            *(fields[c] for c in COLUMNS[:5]),
                            orjson.dumps(fields["actor"]).decode(),
                            *(fields[c] for c in COLUMNS[6:10]),
                            orjson.dumps(fields["detail"]).decode(),
                            heads[chain],
                            digest,
                        ]
                    )
                )
                heads[chain], last_seq[chain] = digest, fields["seq"]
                if len(batch) == BATCH:
                    await conn.copy_records_to_table("audit_events", records=batch, columns=COLUMNS)
                    batch = []
            if batch:
                await conn.copy_records_to_table("audit_events", records=batch, columns=COLUMNS)
            for chain, seq in last_seq.items():
                await conn.execute(
                    "UPDATE audit_chain_heads SET last_seq = $2, last_hash = $3 WHERE chain = $1",
                    chain,
                    seq,
                    heads[chain],
                )
        await conn.execute("ANALYZE audit_events")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with open_database(get_settings()) as urls:
        upgrade_to_head(urls.owner)
        began = time.perf_counter()
        asyncio.run(load(urls.owner, args.events, args.children, args.seed))
        took = time.perf_counter() - began
    print(f"loaded {args.events} chained events in {took:.1f} s")


if __name__ == "__main__":
    main()
