"""The benchmark suite keeps working: its smoke mode runs end to end on a small dataset.

One test on purpose: it is the CI guard for ``make bench`` (loader, hash chains, servers
and ceilings, load generator, uploads, history, audit verify, report), not a performance
test; no figure is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_mode_measures_service_and_ceiling_and_writes_the_report(
    tmp_path: Path,
) -> None:
    report = tmp_path / "benchmarks.md"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "smoke", "--report", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    for target in ("L1", "L2", "L3", "L4", "U1", "U2", "H1", "A1"):
        assert f"| {target} |" in text
    for ceiling in ("| `C_lookup` |", "| `C_copy` |", "| `C_history` page 1 p99 |"):
        assert ceiling in text
    assert "events verified by `app.audit.service.verify`" in text
    assert "| not measured yet |" not in text
