"""The load generator, run for a couple of seconds against real hub processes and the echo server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from loadtest.cli import main

pytestmark = pytest.mark.slow

REQUIRED = ("scans_per_s", "ack_p50_ms", "ack_p95_ms", "ack_p99_ms", "errors", "lost", "duplicated")


def loadtest(tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run `python -m loadtest ... --json FILE` as a user would; its JSON once it exited 0."""
    out = tmp_path / "loadtest.json"
    completed = subprocess.run([sys.executable, "-m", "loadtest", *args, "--drain", "3", "--json", str(out)],
                               capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_closed_loop_run_stores_every_acked_scan_once_and_dashboards_agree(
        hub_process: Any, database_url: str, tmp_path: Path) -> None:
    hub = hub_process().start()
    result = loadtest(tmp_path, "--url", hub.url, "--database-url", database_url,
                      "--scanners", "6", "--accounts", "3", "--duration", "2", "--dashboards", "2",
                      "--held-dashboards", "3")
    for field in REQUIRED:
        assert field in result, field
    assert result["acked"] > 0 and result["scans_per_s"] > 0
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["check"]["ok"] and result["check"]["children_accepted"] > 0
    assert result["acks_by_code"].get("OK", 0) > 0
    assert 0 < result["ack_p50_ms"] <= result["ack_p95_ms"] <= result["ack_p99_ms"]
    assert result["dashboards"] == 2 and result["dashboard_events"] > 0
    assert result["held_dashboards"] == 3
    assert not [kind for kind in result["errors"] if kind.startswith("HELD_")], result["errors"]
    assert result["dashboard_lag_p50_ms"] <= result["dashboard_lag_p99_ms"]
    assert result["dashboard_check"]["ok"], result["dashboard_check"]


def test_open_loop_run_over_two_hubs(hub_process: Any, database_url: str, tmp_path: Path) -> None:
    hubs = [hub_process().start(), hub_process().start()]
    result = loadtest(tmp_path, "--url", hubs[0].url, "--url", hubs[1].url, "--database-url", database_url,
                      "--scanners", "4", "--rate", "100", "--duration", "2")
    assert result["rate"] == 100 and result["connected"] == 4, result.get("errors")
    assert 0 < result["sent"] <= 100 * 2 + 4
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["check"]["ok"]


def test_echo_baseline(tmp_path: Path) -> None:
    result = loadtest(tmp_path, "--echo", "--scanners", "4", "--duration", "1")
    assert result["mode"] == "echo" and result["acked"] > 0 and result["errors"] == {}
    assert result["lost"] is None and result["check"] is None


@pytest.mark.parametrize(("args", "says"), [
    ([], "--url"),
    (["--url", "http://127.0.0.1:1"], "--database-url"),
    (["--url", "http://127.0.0.1:1", "--user", "ravi"], "--password"),
    (["--echo", "--dashboards", "1"], "--dashboards"),
    (["--echo", "--held-dashboards", "1"], "--held-dashboards"),
])
def test_usage_errors_name_the_missing_option(args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert says in result.output
