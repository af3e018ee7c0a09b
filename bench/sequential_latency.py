"""Warm lookup latency, one request at a time, against a running `cpis serve`.

    .venv/bin/cpis serve --demo-data &      # development mode, demo data
    .venv/bin/python -m bench.sequential_latency http://127.0.0.1:8000

What a single registration desk sees: no concurrency, the server warm, demo NHS
numbers (flagged) mixed with an unknown one. `make bench` measures throughput and
latency under load against a raw ceiling; this is the quick single-client figure.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from app.demo import synthetic_nhs_numbers

UNFLAGGED = "9992567872"


def main(base_url: str, requests: int = 1000) -> None:
    token = subprocess.check_output(
        [sys.executable, "-m", "app.cli", "token", "clinician"], text=True
    ).strip()
    # 101 distinct children: under the default harvest limit of 120 per user per hour.
    numbers = [*synthetic_nhs_numbers(100), *[UNFLAGGED] * 25]
    headers = {"Authorization": f"Bearer {token}"}
    latencies = []
    with httpx.Client(base_url=base_url, headers=headers) as client:
        for i in range(requests + 50):
            body = {"nhs_number": numbers[i % len(numbers)], "care_setting": "other"}
            started = time.perf_counter()
            response = client.post("/v1/lookups", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if i >= 50:  # the first 50 warm the server up
                latencies.append(elapsed)
    latencies.sort()
    p50, p90, p99 = (latencies[int(len(latencies) * q)] for q in (0.5, 0.9, 0.99))
    print(f"{requests} sequential lookups: p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
