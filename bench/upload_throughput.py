"""Upload throughput: a 200,000-row file end to end vs a bare COPY of the same rows.

Run: .venv/bin/python bench/upload_throughput.py [--rows 200000]

Starts a throwaway embedded PostgreSQL and a real server process, sends the file
over HTTP (as `cpis upload` does), and reports rows/s, wall time, the server's
peak RSS (VmHWM), lookup latency idle and during the upload, and a bare asyncpg
COPY of the same rows into the same (emptied) plans table, as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import dev_tokens  # noqa: E402
from app.auth.keys import ensure_dev_key  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.db.runtime import open_database  # noqa: E402
from app.ingest.demo_file import write_upload_file  # noqa: E402

AUTHORITY = "E09000007"
SERVER = """
import os, uvicorn
from app.config import Settings
from app.db.session import DatabaseURLs
from app.main import create_app
urls = DatabaseURLs(owner=os.environ["B_OWNER"], service=os.environ["B_SERVICE"])
settings = Settings(data_dir=os.environ["B_DATA_DIR"], _env_file=None)
uvicorn.run(create_app(settings, urls), host="127.0.0.1", port=int(os.environ["B_PORT"]),
            log_config=None, access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _lookups(url: str, token: str, nhs: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    body = {"nhs_number": nhs, "care_setting": "emergency-department"}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as c:
        while not stop.is_set():
            started = time.perf_counter()
            response = await c.post(url + "/v1/lookups", json=body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def _p99_ms(values: list[float]) -> float:
    return round(statistics.quantiles(values, n=100)[98] * 1000, 1) if len(values) > 2 else 0.0


async def _idle_lookups(url: str, token: str, nhs: str, seconds: float) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(_lookups(url, token, nhs, stop))
    await asyncio.sleep(seconds)
    stop.set()
    return await task


async def _send(url: str, token: str, path: Path, sequence: int) -> tuple[float, dict]:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as c:
        response = await c.post(
            url + "/v1/uploads",
            params={"sequence": sequence, "mode": "snapshot"},
            content=path.read_bytes(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


async def _bare_copy(owner_url: str, path: Path) -> float:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        records = [
            (
                AUTHORITY,
                r[0],
                r[1],
                date.fromisoformat(r[2]),
                date.fromisoformat(r[3]) if r[3] else None,
                date.fromisoformat(r[4]) if r[4] else None,
                r[5] or None,
            )
            for r in reader
        ]
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute("TRUNCATE plans")
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "plans",
            records=records,
            columns=[
                "local_authority_code",
                "nhs_number",
                "plan_type",
                "start_date",
                "end_date",
                "delete_date",
                "local_id",
            ],
        )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _run(rows: int, work: Path, urls: object, settings: Settings) -> dict:
    path = work / "upload.csv"
    write_upload_file(path, rows=rows, seed=11)
    child = path.read_text().splitlines()[1].split(",")[0]
    key = ensure_dev_key(settings.dev_key_path)
    mint = lambda claims: dev_tokens.mint_token(  # noqa: E731
        key, issuer=settings.issuer, audience=settings.audience, claims=claims
    )
    la, clinician = mint(dev_tokens.la_claims(org=AUTHORITY)), mint(dev_tokens.clinician_claims())
    port = _free_port()
    env = {
        **os.environ,
        "B_OWNER": urls.owner,
        "B_SERVICE": urls.service,  # type: ignore[attr-defined]
        "B_DATA_DIR": str(settings.data_dir),
        "B_PORT": str(port),
    }
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(url + "/healthz").raise_for_status()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        await _send(url, la, _tiny(work), 1)
        idle = await _idle_lookups(url, clinician, child, 3)
        rss_before = _proc_kb(server.pid, "VmRSS")
        stop = asyncio.Event()
        during = asyncio.create_task(_lookups(url, clinician, child, stop))
        first_s, ack = await _send(url, la, path, 2)
        stop.set()
        busy = await during
        peak = _proc_kb(server.pid, "VmHWM")
        again_s, _ = await _send(url, la, path, 3)
    finally:
        server.terminate()
        server.wait(timeout=20)
    copy_s = await _bare_copy(urls.owner, path)  # type: ignore[attr-defined]
    return {
        "rows": rows,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "accepted": ack["accepted"],
        "upload_wall_s": round(first_s, 2),
        "upload_rows_per_s": round(rows / first_s),
        "unchanged_resend_wall_s": round(again_s, 2),
        "bare_copy_s": round(copy_s, 2),
        "bare_copy_rows_per_s": round(rows / copy_s),
        "ratio_to_bare_copy": round(copy_s / first_s, 2),
        "server_rss_before_mb": round(rss_before / 1024, 1),
        "server_peak_rss_mb": round(peak / 1024, 1),
        "lookup_p99_idle_ms": _p99_ms(idle),
        "lookup_p99_during_upload_ms": _p99_ms(busy),
        "lookups_during_upload": len(busy),
    }


def _tiny(work: Path) -> Path:
    """A one-plan warm-up file, so the measured child is flagged and the server warm."""
    path = work / "warm.csv"
    write_upload_file(path, rows=1, seed=11)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpis-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(data_dir=work / "data", _env_file=None)  # type: ignore[call-arg]
        with open_database(settings) as urls:
            upgrade_to_head(urls.owner)
            print(json.dumps(asyncio.run(_run(args.rows, work, urls, settings)), indent=2))


if __name__ == "__main__":
    main()
