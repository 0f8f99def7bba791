"""`python -m loadtest transfer` against a real hub: it reports export and import rows/s and RSS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.exports_support import seed_children

pytestmark = pytest.mark.slow


async def test_the_transfer_benchmark_measures_a_hub(hub_process: Any, clean_db: asyncpg.Pool, tmp_path: Path) -> None:
    await seed_children(clean_db, 3000)
    hub = hub_process().start()
    assert hub.process is not None
    out = tmp_path / "transfer.json"
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest", "transfer", "--url", hub.url, "--username", "admin", "--password",
         ADMIN_PASSWORD, "--hub-pid", str(hub.process.pid), "--rows", "600", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    assert result["export_rows"] == 3000 and result["export_rows_per_s"] > 0
    assert 0 < result["hub_peak_rss_mb"] <= result["hub_vmhwm_mb"]
    assert result["import_rows"] == 600 and result["import_rows_per_s"] > 0
    assert (result["import_status"], result["import_applied"], result["import_bad"]) == ("done", 600, 0)
    assert "export_rows_per_s" in completed.stdout
