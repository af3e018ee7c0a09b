"""The machine and software a report was measured on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg",
            "pydantic", "python-jose", "cryptography", "orjson")  # fmt: skip


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks since boot, from /proc/stat; (0, 0) where there is none."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    return sum(ticks), ticks[7] if len(ticks) > 7 else 0


def steal_share(start: tuple[int, int]) -> str:
    """The share of CPU time the hypervisor took from this machine since ``start``.

    On a shared virtual machine this is the noise no ratio can cancel: every process,
    ceiling and service alike, loses it, but not evenly across a run.
    """
    total, stolen = (now - then for now, then in zip(cpu_ticks(), start, strict=True))
    return f"{100 * stolen / total:.1f} %" if total else "unknown"


def wrk_version(binary: str | None) -> str:
    if not binary:
        return "not installed (httpx fallback)"
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def facts(pg_version: str, wrk_binary: str | None) -> dict[str, str]:
    machine = {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu_model(),
        "memory": f"{memory_gib():.1f} GiB",
        "kernel": platform.release(),
        "load average at start": load_average(),
        "Python": platform.python_version(),
        "PostgreSQL": pg_version,
        "wrk": wrk_version(wrk_binary),
    }
    for name in PACKAGES:
        try:
            machine[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            machine[name] = "not installed"
    return machine
