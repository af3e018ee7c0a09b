"""Checking in a worker process answers exactly as checking in the server process does."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.errors import ServiceUnavailable
from app.ingest import offload
from app.ingest.errors import UnparseableFile, UploadTooLarge
from app.ingest.parse import ParsedUpload, parse_upload
from tests.ingest.test_parse import CSV, JSON, _chunks


def _everything(parsed: ParsedUpload) -> tuple[object, ...]:
    with parsed.spool:
        spooled = parsed.spool.read()
    return (
        parsed.sha256,
        parsed.received,
        parsed.loadable,
        parsed.rejections,
        parsed.rejected_by_code,
        spooled,
    )


async def _both(body: bytes, content_type: str) -> tuple[tuple[object, ...], tuple[object, ...]]:
    kwargs = {"content_type": content_type, "content_length": None, "limit": 1 << 20}
    here = await parse_upload(_chunks(body, 5), **kwargs)  # type: ignore[arg-type]
    there = await offload.parse_upload_in_worker(_chunks(body, 5), **kwargs)  # type: ignore[arg-type]
    return _everything(here), _everything(there)


@pytest.mark.parametrize(("body", "content_type"), [(CSV, "text/csv"), (JSON, "application/json")])
async def test_worker_gives_the_same_records_rejections_and_hash(
    body: bytes, content_type: str
) -> None:
    here, there = await _both(body, content_type)
    assert there == here
    assert here[1] == 3  # the bodies hold a rejected row, so the comparison covers rejections


async def test_worker_refuses_an_unparseable_file_with_the_in_process_reason() -> None:
    body = b"not,a,plans,file\n1,2,3,4\n"
    with pytest.raises(UnparseableFile) as here:
        await parse_upload(_chunks(body, 7), content_type="text/csv", content_length=None, limit=99)
    with pytest.raises(UnparseableFile) as there:
        await offload.parse_upload_in_worker(
            _chunks(body, 7), content_type="text/csv", content_length=None, limit=99
        )
    assert there.value.detail == here.value.detail
    assert there.value.extra == {"file_code": "CPF01"}


async def test_wrong_media_type_is_refused_before_the_body_is_read() -> None:
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield CSV

    with pytest.raises(UnparseableFile):
        await offload.parse_upload_in_worker(
            body(), content_type="text/plain", content_length=None, limit=1 << 20
        )
    assert read == []


async def test_a_body_over_the_limit_is_refused_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(UploadTooLarge):
        await offload.parse_upload_in_worker(
            _chunks(CSV, 8), content_type="text/csv", content_length=None, limit=len(CSV) - 1
        )
    assert os.listdir(tmp_path) == []


async def test_checked_upload_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parsed = await offload.parse_upload_in_worker(
        _chunks(CSV, 64), content_type="text/csv", content_length=None, limit=1 << 20
    )
    parsed.spool.close()
    assert os.listdir(tmp_path) == []


async def test_the_worker_runs_at_a_lower_cpu_priority_than_the_server() -> None:
    import asyncio

    check = asyncio.get_running_loop().run_in_executor
    worker = await check(offload._executor(), os.getpriority, os.PRIO_PROCESS, 0)
    assert worker == min(19, os.getpriority(os.PRIO_PROCESS, 0) + offload.WORKER_NICENESS)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
async def test_the_worker_runs_only_when_the_cpu_is_otherwise_idle() -> None:
    import asyncio

    check = asyncio.get_running_loop().run_in_executor
    policy = await check(offload._executor(), os.sched_getscheduler, 0)
    assert policy == os.SCHED_IDLE


async def test_a_dead_worker_answers_503_and_the_next_upload_gets_a_new_one() -> None:
    kwargs = {"content_type": "text/csv", "content_length": None, "limit": 1 << 20}
    (await offload.parse_upload_in_worker(_chunks(CSV, 64), **kwargs)).spool.close()  # type: ignore[arg-type]
    pool = offload._executor()
    for process in list(pool._processes.values()):  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    with pytest.raises(ServiceUnavailable):
        await offload.parse_upload_in_worker(_chunks(CSV, 64), **kwargs)  # type: ignore[arg-type]
    parsed = await offload.parse_upload_in_worker(_chunks(CSV, 64), **kwargs)  # type: ignore[arg-type]
    assert parsed.received == 3
    parsed.spool.close()


def test_a_worker_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    script = (
        "import os, signal\n"
        "from app.ingest import offload\n"
        "pool = offload._executor()\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    worker = int(done.stdout.strip())
    deadline = time.monotonic() + 10 * offload.ORPHAN_CHECK_SECONDS
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists()
