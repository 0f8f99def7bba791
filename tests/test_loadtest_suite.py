"""The benchmark suite: one quick end-to-end run against the real PostgreSQL and Redis, its reports,
the /proc CPU reader on a real busy process, and the per-second window statistics."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from loadtest import cpu
from loadtest.scanner import Ack
from loadtest.stats import Recorder, slow_seconds
from loadtest.suite import DEFAULT_TIMED_DASHBOARDS, NAMES, SCENARIOS
from loadtest.targets import Target

HUB_SCENARIOS = [scenario.name for scenario in SCENARIOS if scenario.hubs]
BUSY = "import sys; open('/proc/self/comm', 'w').write(sys.argv[1])\nwhile True: pass"


async def databases_named(server_url: str, prefix: str) -> list[str]:
    conn = await asyncpg.connect(server_url)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix)
    finally:
        await conn.close()
    return [row["datname"] for row in rows]


@pytest.mark.slow
def test_quick_suite_runs_every_scenario_without_loss_and_reports_its_figures(
        postgres_server_url: str, redis_url: str, tmp_path: Path) -> None:
    paths = {kind: tmp_path / f"benchmarks.{kind}" for kind in ("md", "html", "json")}
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest", "suite", "--quick", "--duration", "2", "--scale", "0.02", "--drain", "3",
         "--timed-dashboards", "1",
         "--database-url", postgres_server_url, "--redis-url", redis_url, "--markdown", str(paths["md"]),
         "--html", str(paths["html"]), "--json", str(paths["json"])],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    result: dict[str, Any] = json.loads(paths["json"].read_text())
    scenarios = {figures["name"]: figures for figures in result["scenarios"]}
    assert list(scenarios) == list(NAMES)
    for name, figures in scenarios.items():
        assert "error" not in figures, figures
        assert figures["acked"] > 0 and figures["scans_per_s"] > 0, name
        assert figures["seconds"] > 0 and 0 < figures["ack_p50_ms"] <= figures["ack_p99_ms"] <= figures["ack_max_ms"]
        assert all("max_ms" in point for point in figures["timeline"])
    for name in HUB_SCENARIOS:
        figures = scenarios[name]
        assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["check_ok"] is True, name
        assert figures["echo_ratio"] == round(figures["scans_per_s"] / scenarios["echo"]["scans_per_s"], 3)
        assert figures["hub_cpu_us_per_scan"] > 0 and figures["postgres_cpu_us_per_scan"] > 0, name
        assert any(point["hub_cpu_pct"] is not None for point in figures["timeline"]), name
    boards = scenarios["dashboards"]
    assert boards["dashboard_check_ok"] is True and boards["dashboard_events"] > 0
    assert (boards["dashboards"], boards["timed_dashboards"], boards["held_dashboards"]) == (4, 1, 3)
    assert not [kind for kind in boards["errors"] if kind.startswith("HELD_")], boards["errors"]
    assert "--timed-dashboards 1" in result["command"]
    assert "--dashboards 1 --held-dashboards 3" in boards["commands"][-1]
    assert boards["dashboard_lag_p50_ms"] <= boards["dashboard_lag_p99_ms"]

    markdown = paths["md"].read_text()
    assert result["machine"]["cpu"] in markdown and result["machine"]["postgresql"] in markdown
    assert result["command"] in markdown and result["date"] in markdown
    for name, figures in scenarios.items():
        section = markdown.split(f"## {name}: ", 1)[1].split("\n## ", 1)[0]
        assert f"| scans/s | {figures['scans_per_s']:g} |" in section
        assert f"p99 {figures['ack_p99_ms']} ms" in section
        assert figures["commands"][-1] in section
    assert ("4 dashboards (1 decode every delta, time its lag and are checked against SQL; 3 read every frame "
            "without decoding it)") in markdown
    assert f"hub {scenarios['open-2000']['hub_cpu_us_per_scan']:g} µs" in markdown
    assert "## Targets (issue 10)" in markdown and "not measured" not in markdown

    page = paths["html"].read_text()
    assert page.count("<svg") == len(NAMES) and "<script" not in page and " src=" not in page
    for name, figures in scenarios.items():
        assert f'<h2 id="{name}">' in page
        assert f"p99 {figures['ack_p99_ms']} ms" in page
    assert f"{boards['dashboard_lag_p99_ms']} ms" in page

    suite_id = result["config"]["suite_id"]
    assert asyncio.run(databases_named(postgres_server_url, f"loadtest_suite_{suite_id}_")) == []
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"loadtest-suite-{suite_id}:*")) == []
    finally:
        client.close()


def test_cpu_reader_counts_a_busy_process_ticks_as_they_grow() -> None:
    busy = subprocess.Popen([sys.executable, "-c", BUSY, "ttsuitebusy"])
    try:
        meter = cpu.Meter([busy.pid])
        meter.mark("start")
        first = cpu.ticks(busy.pid)
        assert first is not None
        deadline = time.monotonic() + 60
        while (now := cpu.ticks(busy.pid)) is not None and now <= first + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert now is not None and now > first + 5
        assert busy.pid in cpu.Named("ttsuitebusy").read()
        point = meter.tick(1.0)
        meter.mark("end")
        assert point["hub_cpu_pct"] > 0
        cost = meter.per_scan(1)
        assert cost["hub_cpu_us_per_scan"] is not None and cost["hub_cpu_us_per_scan"] > 0
    finally:
        busy.kill()
        busy.wait()
    assert cpu.ticks(busy.pid) is None


def test_ticks_spent_count_new_processes_from_zero_and_miss_exited_ones() -> None:
    before = {10: 100, 11: 50, 12: 70}
    after = {10: 130, 12: 5, 13: 40}  # 11 exited; 12 is a reused pid; 13 started
    assert cpu.spent(before, after) == 30 + 5 + 40


def ack(latency: float, at: float = 0.5) -> Ack:
    return Ack("lt-dev", 1, {"op": "child"}, "OK", False, False, latency, at)


def test_recorder_tick_gives_each_second_its_p50_p99_and_max() -> None:
    recorder = Recorder()
    recorder.begin(0.0, 10.0)
    for latency in [0.001] * 98 + [0.030, 0.200]:
        recorder.on_ack(ack(latency))
    assert recorder.untallied == 100
    point = recorder.tick(0.5, 0)
    assert (point["acks"], point["per_s"], point["p50_ms"], point["p99_ms"], point["max_ms"]) == \
        (100, 200.0, 1.0, 30.0, 200.0)
    assert recorder.untallied == 0
    empty = recorder.tick(1.5, 0)
    assert (empty["acks"], empty["per_s"], empty["p99_ms"], empty["max_ms"]) == (0, 0.0, 0.0, 0.0)


def test_slow_seconds_finds_the_worst_window_and_counts_those_over_the_limit() -> None:
    timeline = [
        {"acks": 900, "p99_ms": 8.0},
        {"acks": 1000, "p99_ms": 25.0},  # at the limit is not over it
        {"acks": 625, "p99_ms": 332.0},
        {"acks": 0, "p99_ms": 0.0},  # no acks: no p99
        {"acks": 980, "p99_ms": 26.5},
    ]
    assert slow_seconds(timeline) == {"seconds": 4, "worst_second_p99_ms": 332.0, "seconds_over_limit": 2,
                                      "second_limit_ms": 25.0}
    assert slow_seconds(timeline, 500.0)["seconds_over_limit"] == 0
    assert slow_seconds([])["worst_second_p99_ms"] == 0.0


def test_targets_are_met_missed_or_not_measured() -> None:
    target = Target("open-1000", "ack_p99_ms", "<", 15, "ack p99 under 15 ms")
    assert target.judge({"ack_p99_ms": 14.9}) == "met"
    assert target.judge({"ack_p99_ms": 15.0}) == "missed"
    assert target.judge({"ack_p99_ms": None}) == "not measured"
    assert target.judge({}) == "not measured"


def test_scaling_keeps_at_least_one_scanner_per_hub_and_one_dashboard() -> None:
    boards = next(scenario for scenario in SCENARIOS if scenario.name == "dashboards")
    small = boards.scaled(0.001)
    assert (small.scanners, small.dashboards, small.hubs, small.window) == (2, 1, 2, boards.window)
    assert small.rate == pytest.approx(2.0)
    assert boards.scaled(1) == boards


def test_only_the_timed_sample_of_a_scenario_s_dashboards_decode() -> None:
    boards = next(scenario for scenario in SCENARIOS if scenario.name == "dashboards")
    assert boards.dashboard_split(DEFAULT_TIMED_DASHBOARDS) == (20, 180)
    assert boards.scaled(0.05).dashboard_split(DEFAULT_TIMED_DASHBOARDS) == (10, 0)
    assert boards.dashboard_split(500) == (200, 0)
    saturated = next(scenario for scenario in SCENARIOS if scenario.name == "saturated")
    assert saturated.dashboard_split(DEFAULT_TIMED_DASHBOARDS) == (0, 0)


def test_postgresql_s_cpu_leaves_out_the_client_backends_of_other_databases() -> None:
    run = "lt_suite_abc"
    assert cpu.serves_other_database("postgres: 15/main: postgres bench10m 127.0.0.1(43806) COPY", run)
    assert cpu.serves_other_database("postgres: alice seed_try [local] idle", run)
    assert not cpu.serves_other_database(f"postgres: 15/main: postgres {run} 127.0.0.1(5012) UPDATE", run)
    for shared in ("postgres: 15/main: checkpointer", "postgres: 15/main: background writer",
                   "postgres: 15/main: walwriter", "postgres: 15/main: autovacuum launcher",
                   "postgres: autovacuum worker", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/x"):
        assert not cpu.serves_other_database(shared, run), shared
