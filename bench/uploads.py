"""U1, U2, L4 and C_copy: one authority's nightly file through ``cpis serve``.

Each repeat, on the full dataset and a service process of its own: a bare asyncpg binary
COPY of the file's rows into ``plans`` (C_copy, one authority), the same file uploaded
alone through HTTP by another authority (U1; the service's peak RSS over it, U2), then
lookups paced at a fixed rate, first idle and then while further authorities upload the
same file one after another (L4). Every authority uploads once, so every upload inserts all
its rows.

L4 compares two p99s, and at 100 lookups/s a window as long as one upload (about 4 s on
the 2-core machine) holds some 400 latencies, so its p99 is its 4th-largest: three such
windows on unchanged code gave ratios of 0.4, 1.4 and 3.3. So the paced window spans
UPLOADS_PER_WINDOW uploads back to back (over 1,000 latencies), and the idle window is as
long. A stall of a few hundred milliseconds in either window still moves its p99.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.auth import dev_tokens
from app.auth.keys import ensure_dev_key
from app.config import DEV_AUDIENCE, DEV_ISSUER
from app.db.session import DatabaseURLs
from app.ingest.demo_file import write_upload_file
from bench import servers
from bench.load import Generator, Run
from bench.profiles import Profile
from bench.stats import Spread
from bench.targets import Verdict, judged
from bench.workload import Workload

PLAN_COLUMNS = [
    "local_authority_code",
    "nhs_number",
    "plan_type",
    "start_date",
    "end_date",
    "delete_date",
    "local_id",
]
SEQUENCE = 1_000_000  # above any sequence the dataset's authorities have sent
UPLOADS_PER_WINDOW = 3


@dataclass(frozen=True)
class UploadFigures:
    rows: int
    copy_s: list[float]  # C_copy
    upload_s: list[float]  # U1, alone
    peak_rss_mb: list[float]  # U2, VmHWM over the upload alone: server + its worker
    server_rss_mb: list[float]  # of that, the server process's own
    idle: list[Run]  # L4 reference: paced lookups, no upload
    during: list[Run]  # L4: the same pacing while uploads run back to back
    upload_during_s: list[float]  # each upload of the L4 windows
    rate: float

    @property
    def u1_rps(self) -> Spread:
        return Spread.of([self.rows / s for s in self.upload_s])

    @property
    def c_copy(self) -> Spread:
        return Spread.of([self.rows / s for s in self.copy_s])

    @property
    def u1_ratio(self) -> Spread:
        return Spread.of([c / u for c, u in zip(self.copy_s, self.upload_s, strict=True)])

    @property
    def l4_ratio(self) -> Spread:
        return Spread.of([d.p99_ms / i.p99_ms for d, i in zip(self.during, self.idle, strict=True)])

    def verdicts(self) -> list[Verdict]:
        ratio, wall, rss = self.u1_ratio, Spread.of(self.upload_s), Spread.of(self.peak_rss_mb)
        idle, during = (
            Spread.of([r.p99_ms for r in self.idle]),
            Spread.of([r.p99_ms for r in self.during]),
        )
        return [
            Verdict(
                "L4",
                f"lookup p99 while a {self.rows:,}-row upload runs",
                "≤ 2 × idle p99",
                f"{self.l4_ratio.text('{:.2f}', ' ×')} (p99 {during.text('{:.1f}', ' ms')} "
                f"vs idle {idle.text('{:.1f}', ' ms')} at {self.rate:g} /s)",
                judged(self.l4_ratio.median <= 2),
            ),
            Verdict(
                "U1",
                f"{self.rows:,}-row upload end to end",
                "≥ 0.3 × `C_copy` rows/s, and ≤ 10 s",
                f"{ratio.text('{:.2f}', ' ×')}, {wall.text('{:.1f}', ' s')} "
                f"({self.u1_rps.text(unit=' rows/s')})",
                judged(ratio.median >= 0.3 and wall.median <= 10),
            ),
            Verdict(
                "U2",
                "service peak RSS during that upload",
                "≤ 300 MB",
                f"{rss.text('{:.0f}', ' MB')} (server process and its parse worker)",
                judged(rss.median <= 300),
            ),
        ]

    def figure_rows(self) -> list[list[str]]:
        return [
            [
                "`C_copy`",
                f"bare asyncpg binary COPY of the file's {self.rows:,} rows into "
                "`plans`, committed",
                self.c_copy.text(unit=" rows/s"),
                "—",
            ],
            [
                "U1",
                "upload through `cpis serve` (CSV, delta), alone",
                f"{self.u1_rps.text(unit=' rows/s')}; "
                f"{Spread.of(self.upload_s).text('{:.1f}', ' s')}",
                f"{self.u1_ratio.text('{:.2f}', ' ×')} `C_copy`",
            ],
            [
                "U2",
                "VmHWM over that upload (peaks reset before it): server process + its "
                "worker processes",
                Spread.of(self.peak_rss_mb).text("{:.0f}", " MB"),
                "—",
            ],
            [
                "U2 server",
                "of which the server process's own peak",
                Spread.of(self.server_rss_mb).text("{:.0f}", " MB"),
                "—",
            ],
            [
                "L4 idle",
                f"lookups paced at {self.rate:g} /s, no upload: p99",
                Spread.of([r.p99_ms for r in self.idle]).text("{:.1f}", " ms"),
                "—",
            ],
            [
                "L4 during",
                f"the same pacing while {UPLOADS_PER_WINDOW} uploads run back to back: p99 (p50 "
                f"{Spread.of([r.p50_ms for r in self.during]).text('{:.1f}', ' ms')})",
                Spread.of([r.p99_ms for r in self.during]).text("{:.1f}", " ms"),
                f"{self.l4_ratio.text('{:.2f}', ' ×')} idle",
            ],
            [
                "U1 under load",
                "each upload's own time while those lookups run",
                Spread.of(self.upload_during_s).text("{:.1f}", " s"),
                "—",
            ],
        ]


def _parsed(path: Path, authority: str) -> list[tuple[object, ...]]:
    def day(text: str) -> date | None:
        return date.fromisoformat(text) if text else None

    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [
            (authority, r[0], r[1], day(r[2]), day(r[3]), day(r[4]), r[5] or None) for r in reader
        ]


async def bare_copy(owner_url: str, records: list[tuple[object, ...]]) -> float:
    """C_copy: the rows, already parsed, COPYed (binary) into plans and committed."""
    conn = await asyncpg.connect(owner_url)
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table("plans", records=records, columns=PLAN_COLUMNS)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def authorities(owner_url: str, count: int) -> list[str]:
    """Authorities holding the fewest plans: each takes one file in this measurement."""
    conn = await asyncpg.connect(owner_url)
    try:
        rows = await conn.fetch(
            "SELECT la.code FROM local_authorities la LEFT JOIN plans p"
            " ON p.local_authority_code = la.code GROUP BY la.code ORDER BY count(p.*), la.code"
            " LIMIT $1",
            count,
        )
    finally:
        await conn.close()
    if len(rows) < count:
        raise RuntimeError(f"the uploads need {count} authorities, the directory has {len(rows)}")
    return [r["code"] for r in rows]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _peak_rss_reset(pid: int) -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs), so a peak is the upload's own."""
    for each in (pid, *_children(pid)):
        Path(f"/proc/{each}/clear_refs").write_text("5")


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _peak_rss_mb(pid: int) -> tuple[float, float]:
    """(the server process's peak, the sum of its child processes' peaks: the parse worker)."""
    return _vm_hwm_mb(pid), sum(_vm_hwm_mb(child) for child in _children(pid))


class Uploader:
    """Sends the file as a given authority, as a local-authority system would."""

    def __init__(self, url: str, service_dir: Path, body: bytes) -> None:
        self.url = url
        self.key = ensure_dev_key(service_dir / "dev-signing-key.pem")
        self.body = body

    def send(self, authority: str) -> float:
        token = dev_tokens.mint_token(
            self.key,
            issuer=DEV_ISSUER,
            audience=DEV_AUDIENCE,
            claims=dev_tokens.la_claims(org=authority),
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
        started = time.perf_counter()
        response = httpx.post(
            f"{self.url}/v1/uploads",
            params={"sequence": SEQUENCE},
            content=self.body,
            headers=headers,
            timeout=600,
        )
        took = time.perf_counter() - started
        if response.status_code != 201 or response.json()["file_code"] != "CPF02":
            raise RuntimeError(
                f"upload as {authority}: {response.status_code} {response.text[:300]}"
            )
        return took


def _during_uploads(
    generator: Generator,
    url: str,
    workload: Workload,
    uploader: Uploader,
    authorities: list[str],
    seconds: float,
    connections: int,
    pause_ms: float,
) -> tuple[Run, list[float]]:
    """Paced lookups for ``seconds``, started just after the first of ``authorities``'
    uploads, sent one after another, which together outlast them."""
    took: list[float] = []
    upload = threading.Thread(target=lambda: took.extend(uploader.send(a) for a in authorities))
    upload.start()
    time.sleep(0.3)  # the request is in and being read before the first paced lookup
    run = generator.run(
        url, workload, seconds=seconds, connections=connections, mean_pause_ms=pause_ms
    )
    upload.join()
    if len(took) != len(authorities):
        raise RuntimeError("an upload during paced lookups failed; see the service log")
    return run, took


def measure(
    profile: Profile,
    generator: Generator,
    workload: Workload,
    full: DatabaseURLs,
    service_dir: Path,
    logs: Path,
) -> UploadFigures:
    import asyncio

    path = service_dir / "upload.csv"
    write_upload_file(path, rows=profile.upload_rows, seed=11)
    per_repeat = 2 + UPLOADS_PER_WINDOW  # C_copy, U1 alone, then the L4 window's
    codes = asyncio.run(authorities(full.owner, per_repeat * profile.repeats))
    pause_ms = 1000 * profile.paced_connections / profile.upload_lookup_rate
    kinds = ("copy", "alone", "rss", "server_rss", "idle", "during", "busy")
    figures: dict[str, list[Any]] = {k: [] for k in kinds}
    with servers.cpis_serve("service-uploads", full, service_dir, logs / "uploads.log") as svc:
        uploader = Uploader(svc.url, service_dir, path.read_bytes())
        generator.run(svc.url, workload, seconds=profile.warmup_s, connections=4)
        for i in range(profile.repeats):
            copy_code, alone_code, *busy_codes = codes[per_repeat * i : per_repeat * (i + 1)]
            figures["copy"].append(asyncio.run(bare_copy(full.owner, _parsed(path, copy_code))))
            _peak_rss_reset(svc.pid)
            figures["alone"].append(uploader.send(alone_code))
            server_mb, workers_mb = _peak_rss_mb(svc.pid)
            figures["rss"].append(server_mb + workers_mb)
            figures["server_rss"].append(server_mb)
            # The paced window fits inside the busy uploads, which run longer than alone.
            window = max(1.0, 0.8 * UPLOADS_PER_WINDOW * figures["alone"][-1])
            figures["idle"].append(
                generator.run(
                    svc.url,
                    workload,
                    seconds=window,
                    connections=profile.paced_connections,
                    mean_pause_ms=pause_ms,
                )
            )
            run, took = _during_uploads(
                generator,
                svc.url,
                workload,
                uploader,
                busy_codes,
                window,
                profile.paced_connections,
                pause_ms,
            )
            figures["during"].append(run)
            figures["busy"].extend(took)
    return UploadFigures(
        profile.upload_rows,
        figures["copy"],
        figures["alone"],
        figures["rss"],
        figures["server_rss"],
        figures["idle"],
        figures["during"],
        figures["busy"],
        profile.upload_lookup_rate,
    )
