"""How uvicorn serves the app: one place, so benchmarks serve their ceilings the same way.

uvloop and httptools are named rather than left to ``auto``, so a missing extra fails
loudly instead of silently halving throughput; the access log is ours (JSON, no query
strings, see app/observability), so uvicorn's own is off.

Idle keep-alive connections are kept for 75 s, longer than the idle timeouts of common
load balancers and HTTP client pools (60 s): the side that closes an idle connection
first must be the client, or a request sent just as the server closes it fails on the
wire (uvicorn's default of 5 s made paced benchmark clients, and would make a quiet
registration desk, see the occasional connection reset).
"""

import gc
from typing import Any, Final

UVICORN_OPTIONS: Final[dict[str, Any]] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_config": None,
    "access_log": False,
    "server_header": False,
    "timeout_graceful_shutdown": 10,
    "timeout_keep_alive": 75,
}


def freeze_startup_heap() -> None:
    """Keep everything built at startup out of the garbage collector's full passes.

    Importing FastAPI, pydantic and SQLAlchemy leaves hundreds of thousands of long-lived
    objects; every full collection walked them all and stalled the event loop for tens
    of milliseconds, which showed as the lookup's p99 under load (make bench, L2).
    """
    gc.collect()
    gc.freeze()
