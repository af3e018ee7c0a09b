"""How uvicorn serves the app: one place, so benchmarks serve their ceilings the same way.

uvloop and httptools are named rather than left to ``auto``, so a missing extra fails
loudly instead of silently halving throughput; the access log is ours (JSON, no query
strings, see app/observability), so uvicorn's own is off.
"""

from typing import Any, Final

UVICORN_OPTIONS: Final[dict[str, Any]] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_config": None,
    "access_log": False,
    "server_header": False,
    "timeout_graceful_shutdown": 10,
}
