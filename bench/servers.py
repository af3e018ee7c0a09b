"""Servers under test, each its own process: ``cpis serve`` and the C_lookup ceiling."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.db.session import DatabaseURLs
from bench.profiles import ROOT


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{url} exited with {process.returncode}; end of {log}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s; see {log}")


@contextlib.contextmanager
def _process(name: str, command: list[str], env: dict[str, str], log: Path,
             url: str) -> Iterator[Server]:  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        _wait_ready(process, url, log)
        yield Server(name, url, process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


# The bench mints development tokens, so the service must not see a real identity provider.
_NOT_PASSED = ("CPIS_ENV", "CPIS_JWT_ISSUER", "CPIS_JWT_AUDIENCE", "CPIS_JWKS_URL",
               "CPIS_JWKS_FILE", "TEST_DATABASE_URL")  # fmt: skip


def service_env(urls: DatabaseURLs, data_dir: Path) -> dict[str, str]:
    """The service on the bench database, in development mode; other CPIS_* settings pass."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_PASSED and not k.startswith("PG")}
    env |= {
        "DATABASE_URL": urls.owner,
        "CPIS_APP_DATABASE_URL": urls.service,
        "CPIS_DATA_DIR": str(data_dir),
        # The load generator is, by design, a harvester: 2,000 clinicians each looking up
        # hundreds of distinct children an hour. Raise the harvest limits out of its way;
        # the counts are still read, and the limits checked, on every lookup.
        "CPIS_HARVEST_USER_LIMIT": "1000000000",
        "CPIS_HARVEST_ORG_LIMIT": "1000000000",
    }
    return env


def cpis_serve(
    name: str, urls: DatabaseURLs, data_dir: Path, log: Path
) -> contextlib.AbstractContextManager[Server]:
    """``cpis serve`` exactly as an operator runs it (the installed console script)."""
    port = free_port()
    script = Path(sys.executable).with_name("cpis")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    return _process(name, command, service_env(urls, data_dir), log, f"http://127.0.0.1:{port}")


def ceiling(
    name: str, urls: DatabaseURLs, pool_size: int, log: Path
) -> contextlib.AbstractContextManager[Server]:
    port = free_port()
    command = [sys.executable, "-m", "bench.ceiling", "--dsn", urls.service, "--port", str(port),
               "--pool-size", str(pool_size)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return _process(name, command, env, log, f"http://127.0.0.1:{port}")
