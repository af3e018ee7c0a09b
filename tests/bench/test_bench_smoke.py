"""The benchmark suite keeps working: its smoke mode runs end to end on a small dataset.

One test for ``make bench`` (loader, hash chains, servers and ceilings, load generator,
uploads, history, audit verify, report) and one for ``python -m bench.diagnose``: CI
guards, not performance tests; no figure is asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` from the repository, on the bench's own embedded cluster (never
    the tests' database); asserts that it succeeded."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_bench_smoke_mode_measures_service_and_ceiling_and_writes_the_report(
    tmp_path: Path,
) -> None:
    report = tmp_path / "benchmarks.md"
    run_bench("bench", "smoke", "--report", str(report))
    text = report.read_text()
    for target in ("L1", "L2", "L3", "L4", "U1", "U2", "H1", "A1"):
        assert f"| {target} |" in text
    for ceiling in ("| `C_lookup` |", "| `C_copy` |", "| `C_history` page 1 p99 |"):
        assert ceiling in text
    assert "events verified by `app.audit.service.verify`" in text
    assert "| not measured yet |" not in text


def test_the_l3_diagnosis_prints_each_trails_costs_per_lookup_and_statement() -> None:
    done = run_bench("bench.diagnose", "smoke", "--rounds", "1", "--duration", "2")
    for trail in ("full", "empty"):
        assert re.search(rf"round 1, {trail} trail: \d+ /s; per lookup: FPI [\d.]+, "
                         r"WAL [\d.]+ KB, new index pages [\d.]+, ", done.stdout)  # fmt: skip
    assert re.search(r"\d+ calls +\d+ µs, reads [\d.]+, hits +[\d.]+, FPI [\d.]+: ", done.stdout)
    assert re.search(r"full / empty, window by window: [\d.]+; median", done.stdout)
