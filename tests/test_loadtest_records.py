"""`python -m loadtest records`, run tiny against a real hub process on a small data set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.records_support import make_dataset, write_dataset

pytestmark = pytest.mark.slow


async def test_the_read_benchmark_times_lookups_and_deep_pages(hub_process: Any, clean_db: asyncpg.Pool,
                                                               database_url: str, tmp_path: Path) -> None:
    await write_dataset(clean_db, make_dataset())
    hub = hub_process(API_REQUESTS_PER_MINUTE="100000").start()
    out = tmp_path / "records.json"
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest", "records", "--url", hub.url, "--username", "admin", "--requests", "5",
         "--pages", "4", "--limit", "10", "--database-url", database_url, "--json", str(out)],
        capture_output=True, text=True, timeout=180, env={"LOADTEST_PASSWORD": ADMIN_PASSWORD, "PATH": ""})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    rows = result["timings"]
    assert [row["name"] for row in rows] == ["bag lookup", "bags page 1", "bags page 4", "bills page 1",
                                             "bills page 1", "scans page 1", "scans page 4"]
    assert all(row["requests"] == 5 and 0 < row["p50_ms"] <= row["p99_ms"] for row in rows)
    assert rows[2]["note"] == "" and "asked for 4" in rows[4]["note"]  # the bills are one page only
    assert [w["pages"] for w in result["walks"]] == [4, 1, 4] and result["rate_limited"] == 0
    assert "bag lookup" in completed.stdout and "bags page 4" in completed.stdout


def test_usage_errors_exit_2() -> None:
    completed = subprocess.run([sys.executable, "-m", "loadtest", "records", "--url", "http://127.0.0.1:9"],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "--username" in completed.stderr
