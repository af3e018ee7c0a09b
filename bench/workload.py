"""What the load generator sends: valid tokens of many users, NHS numbers from the data."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from app.auth import dev_tokens
from app.auth.keys import ensure_dev_key
from app.config import DEV_AUDIENCE, DEV_ISSUER
from app.plans.visibility import visible_sql
from bench.dataset import People, user_claims
from bench.profiles import Profile

FLAGGED_SHARE = 0.5  # half the looks find a visible plan: both paths weigh in
SAMPLE = 20_000
_FLAGGED = f"SELECT DISTINCT p.nhs_number FROM plans p WHERE {visible_sql('p')}"  # noqa: S608


@dataclass(frozen=True)
class Workload:
    path: Path
    tokens: list[str]
    flagged: list[str]
    unflagged: list[str]


async def build(profile: Profile, folk: People, owner_url: str, data_dir: Path) -> Workload:
    """Mint tokens for the service's development key and write wrk's workload file."""
    rng = random.Random(9)  # noqa: S311 - reproducible synthetic workload
    conn = await asyncpg.connect(owner_url)
    try:
        rows = await conn.fetch(_FLAGGED.replace(":today", "$1"), datetime.now(UTC).date())
    finally:
        await conn.close()
    visible = sorted(r["nhs_number"] for r in rows)
    flagged = rng.sample(visible, min(SAMPLE, len(visible)))
    unflagged = rng.sample(folk.unflagged, min(SAMPLE, len(folk.unflagged)))
    key = ensure_dev_key(data_dir / "dev-signing-key.pem")
    users = [i * profile.users // profile.tokens for i in range(profile.tokens)]
    tokens = [
        dev_tokens.mint_token(key, issuer=DEV_ISSUER, audience=DEV_AUDIENCE,
                              claims=user_claims(u), ttl_seconds=6 * 3600)
        for u in users
    ]  # fmt: skip
    path = data_dir / "workload.txt"
    lines = [f"T {t}" for t in tokens] + [f"F {n}" for n in flagged]
    path.write_text("\n".join(lines + [f"U {n}" for n in unflagged]) + "\n")
    path.chmod(0o600)
    return Workload(path, tokens, flagged, unflagged)
