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

# Net allocations between the young generation's garbage-collection passes while serving.
YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Keep everything built at startup out of the garbage collector's passes, and run
    the young generation's pass rarely.

    Importing FastAPI, pydantic and SQLAlchemy leaves hundreds of thousands of long-lived
    objects; every full collection walked them all and stalled the event loop for tens
    of milliseconds, which showed as the lookup's p99 under load (make bench, L2).

    Almost every object a request makes is freed by reference counting when the request
    ends, so what the young generation's pass finds is mostly the live state of the
    requests in flight, which it cannot free. At the default threshold (700 net
    allocations) that pass ran every few lookups and took about 1 ms of CPU each time:
    with the older generations' passes it triggers, 1.7-1.9 s of the service's CPU in
    about 30 s of closed-loop lookups, 6-7 % of it (make bench's data, measured with
    gc.callbacks). At 50,000 it did not run once in the same 30 s. Garbage in reference
    cycles is still collected, after 50,000 net allocations rather than 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
