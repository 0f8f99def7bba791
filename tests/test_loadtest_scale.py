"""`python -m loadtest scale` judges its figures against issue 11's targets and writes its own section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtest import scale, sections


def _run(p99: float) -> dict[str, Any]:
    return {"scanners": 200, "connected": 200, "rate": 500.0, "duration_s": 30.0, "scans_per_s": 499.0,
            "acked": 15000, "ack_p50_ms": 9.0, "ack_p99_ms": p99, "ack_max_ms": 80.0, "lost": 0,
            "duplicated": 0, "errors": {}, "parents_used": 500, "dashboards": 200, "dashboard_lag_p50_ms": 20.0,
            "dashboard_lag_p99_ms": 60.0, "dashboard_check_ok": True, "check_ok": True, "dashboard_mismatched": []}


def _result(ready_s: float, peak_mb: float, p99: float) -> dict[str, Any]:
    return {"date": "2026-12-01T22:00:00+00:00", "command": "python -m loadtest scale", "open_files": 20000,
            "machine": {}, "bags_in_database": 10_000_000,
            "config": {"connections": 10_000, "rate": 500.0, "held_dashboards": 800, "seeded": "db"},
            "start": {"ready_s": ready_s, "first_ack_s": ready_s + 0.5, "rss_after_start_mb": 60.0,
                      "cache_size": 20000, "rss_touch_halfway_mb": 70.0, "rss_touch_end_mb": 71.0,
                      "rss_touch_peak_mb": 71.0, "run": _run(100.0)},
            "connections": {"ready_s": 2.0, "rss_idle_mb": 60.0, "held": 9600, "held_open": 9600,
                            "held_open_s": 200.0, "held_still_open": 9600, "held_errors": {}, "rss_held_mb": 300.0,
                            "open_connections": 10_000, "rss_run_peak_mb": peak_mb, "rss_run_halfway_mb": peak_mb,
                            "run": _run(p99)}}


def test_each_target_is_met_or_missed_by_its_own_figure() -> None:
    assert [met for _, _, met in scale.targets(_result(2.1, 390.0, 40.0))] == [True, True, True]
    assert [met for _, _, met in scale.targets(_result(3.5, 410.0, 60.0))] == [False, False, False]


def test_the_section_names_the_verdicts_and_replaces_itself(tmp_path: Any) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nthe suite's part\n")
    sections.write(report, "scale", scale.render(_result(3.5, 390.0, 40.0)))
    sections.write(report, "scale", scale.render(_result(2.1, 390.0, 40.0)))
    text = report.read_text()
    assert text.count("## Scale on one process") == 1 and "the suite's part" in text
    assert "**missed**" not in text and "| 2.10 s to ready | met |" in text
    assert scale.passed(_result(2.1, 390.0, 40.0))


@pytest.mark.slow
def test_a_tiny_run_seeds_starts_holds_and_writes_its_section(database_url: str, tmp_path: Path) -> None:
    report, out = tmp_path / "benchmarks.md", tmp_path / "scale.json"
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest", "scale", "--bags", "300", "--connections", "120", "--scanners", "5",
         "--rate", "25", "--dashboards", "2", "--held-dashboards", "10", "--duration", "2", "--touch-scanners", "2",
         "--touch-duration", "2", "--cache-size", "50", "--database-url", database_url, "--markdown", str(report),
         "--json", str(out)], capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["bags_in_database"] >= 300 and result["connections"]["open_connections"] == 120
    assert result["connections"]["run"]["dashboard_check_ok"] and result["start"]["run"]["check_ok"]
    text = report.read_text()
    assert text.count("## Scale on one process") == 1 and "| 120 websockets on one hub < 400 MB RSS |" in text
