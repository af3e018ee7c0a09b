"""How the service's process is set up to serve (app/serving.py)."""

from __future__ import annotations

import subprocess
import sys

# Run in a fresh interpreter: freezing and the thresholds are process-wide.
_PROBE = """
import gc
from app.serving import YOUNG_THRESHOLD, tune_garbage_collector

tune_garbage_collector()
passes = []
gc.callbacks.append(lambda phase, info: phase == "stop" and passes.append(info["generation"]))
live = [[i] for i in range(YOUNG_THRESHOLD // 2)]  # requests in flight: alive, not garbage
print(len(passes), gc.get_freeze_count() > 0)
for _ in range(YOUNG_THRESHOLD):  # cycles only the collector can free
    a = []
    a.append(a)
print(len(passes) > 0)
"""


def test_live_objects_do_not_trigger_young_passes_but_cycles_are_still_collected() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0", "True", "True"]
