"""``cpis upload``: send a file to a running service over HTTP, as a local authority would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


def content_type_for(path: Path) -> str:
    return "application/json" if path.suffix.lower() == ".json" else "text/csv"


def send_file(
    base_url: str,
    path: Path,
    *,
    token: str,
    sequence: int,
    mode: str = "delta",
    allow_mass_withdrawal: bool = False,
    timeout: float = 300.0,
) -> tuple[int, Any]:
    """POST ``path`` (streamed from disk) to /v1/uploads; returns (status, parsed JSON body)."""
    params: dict[str, Any] = {"sequence": sequence, "mode": mode}
    if allow_mass_withdrawal:
        params["allow_mass_withdrawal"] = "true"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": content_type_for(path),
        "Content-Length": str(path.stat().st_size),
    }
    with path.open("rb") as body:
        response = httpx.post(
            base_url.rstrip("/") + "/v1/uploads",
            params=params,
            content=body,
            headers=headers,
            timeout=timeout,
        )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"detail": response.text[:500]}
