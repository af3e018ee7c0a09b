"""``--profile``: where a server spends its time under the closed-loop load (py-spy)."""

from __future__ import annotations

import contextlib
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.load import LoadError


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise LoadError("--profile needs py-spy (pip install py-spy, or the dev extras)")
    return found


@contextlib.contextmanager
def recording(pid: int, seconds: float, out: Path) -> Iterator[None]:
    """Sample ``pid`` for ``seconds`` while the body runs; a speedscope file at ``out``."""
    command = [_py_spy(), "record", "-p", str(pid), "-d", str(math.ceil(seconds)), "-r", "200",
               "-f", "speedscope", "-o", str(out)]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        yield
    finally:
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode:
            raise LoadError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
