"""Synthetic data for trying cpis out: 999-range NHS numbers and drama-range phones.

Nothing here is a real person or a real telephone number: NHS numbers starting
999 are reserved for testing, and Ofcom reserves 0113 496 0000–0999 and
020 7946 0000–0999 for drama.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.nhs_number import check_digit


def synthetic_nhs_numbers(count: int, *, seed: int = 0) -> list[str]:
    """``count`` distinct valid NHS numbers in the 999 test range, reproducibly."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    found: dict[str, None] = {}
    while len(found) < count:
        first_nine = f"999{rng.randrange(1_000_000):06d}"
        digit = check_digit(first_nine)
        if digit is not None:
            found.setdefault(first_nine + str(digit))
    return list(found)


def drama_phones(index: int) -> tuple[str, str]:
    """Office-hours and emergency-duty numbers from Ofcom's drama ranges."""
    return f"0113 496 {index % 1000:04d}", f"020 7946 {index % 1000:04d}"


async def fill_demo_contacts(session: AsyncSession) -> int:
    """Give every authority without phone numbers drama-range ones; returns how many."""
    codes = (
        await session.scalars(
            text(
                "SELECT code FROM local_authorities WHERE office_hours_phone IS NULL ORDER BY code"
            )
        )
    ).all()
    for index, code in enumerate(codes):
        office, duty = drama_phones(index)
        await session.execute(
            text(
                "UPDATE local_authorities SET office_hours_phone = :office, "
                "emergency_duty_phone = :duty, updated_at = now() WHERE code = :code"
            ),
            {"office": office, "duty": duty, "code": code},
        )
    return len(codes)


async def load_demo_plans(session: AsyncSession, *, children: int, today: date) -> list[str]:
    """Plans for ``children`` synthetic children across authorities; returns their numbers."""
    rng = random.Random(1)  # noqa: S311 - reproducible synthetic data
    codes = (await session.scalars(text("SELECT code FROM local_authorities ORDER BY code"))).all()
    numbers = synthetic_nhs_numbers(children)
    rows = []
    for i, nhs_number in enumerate(numbers):
        plan_type = ("CPP", "LAC", "UCPP")[0 if i % 5 < 3 else (1 if i % 5 == 3 else 2)]
        start = today - timedelta(days=rng.randrange(30, 900))
        ended = i % 7 == 6
        end = start + timedelta(days=rng.randrange(20, 300)) if ended else None
        rows.append(
            {
                "code": codes[i % len(codes)],
                "nhs": nhs_number,
                "type": plan_type,
                "start": start,
                "end": min(end, today) if end else None,
                "local_id": f"DEMO-{i:06d}",
            }
        )
    # The first child is held by two authorities, as happens when a child moves.
    second = {**rows[0], "code": codes[(1 + len(codes) // 2) % len(codes)], "type": "LAC"}
    rows.append({**second, "local_id": "DEMO-SECOND"})
    await session.execute(
        text(
            "INSERT INTO plans (local_authority_code, nhs_number, plan_type, start_date, end_date,"
            " local_id) VALUES (:code, :nhs, :type, :start, :end, :local_id)"
            " ON CONFLICT DO NOTHING"
        ),
        rows,
    )
    return numbers
