"""The synthetic upload file: valid test-range records, and exactly the bad rows asked for."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.cli import main
from app.ingest.demo_file import write_upload_file
from tests.conftest import Tokens
from tests.ingest.helpers import upload


async def test_demo_file_loads_its_good_rows_and_rejects_each_bad_one(
    client: httpx.AsyncClient, tokens: Tokens, tmp_path: Path
) -> None:
    path = tmp_path / "plans.csv"
    kinds = write_upload_file(path, rows=600, bad_share=0.1, seed=5)
    assert set(kinds) == {
        "good",
        "check-digit",
        "end-before-start",
        "plan-type",
        "date",
        "duplicate",
    }
    body = (await upload(client, tokens, path.read_bytes())).json()
    assert (body["received"], body["accepted"]) == (600, kinds["good"])
    assert {r["code"] for r in body["rejections"]} == {"CPR04", "CPR07"}


def test_cpis_demo_data_writes_an_upload_file_without_a_database(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert main(["demo-data", "--upload-file", str(path), "--rows", "25"]) == 0
    lines = path.read_text().splitlines()
    assert lines[0] == "nhs_number,plan_type,start_date,end_date,delete_date,local_id"
    assert len(lines) == 26
    assert all(line.startswith("999") for line in lines[1:])
