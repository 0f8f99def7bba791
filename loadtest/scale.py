"""`python -m loadtest scale`: one hub process at scale (issue 11, part 2), in three steps.

1. Seed: a fresh database gets `--bags` bags (`tracetrack seed`, timed).
2. Start with the bags in PostgreSQL: a hub is spawned on it and timed from the spawn to its first
   200 from /ready, and to the first ack of a scanner that logs in then. Its RSS (/proc/PID/status)
   is read after start, and every second of a closed-loop run whose scanners take parent codes
   whether or not they exist, so that they touch seeded parents by the thousand and the bag cache
   (`--cache-size` entries) fills and evicts: RSS must stay flat once it is full.
3. Ten thousand connections: a second hub, with every configured format plus one of this run's
   own (`ZS` + 7 digits: a seeded database has used every code of the default formats), holds
   `--connections` websockets: idle scanners and dashboards in worker processes (loadtest/holders.py),
   and the run's `--scanners` at `--rate` scans/s open loop with `--dashboards` timed dashboards
   (loadtest/runner.py, loadtest/fleet.py). Its RSS is read before and every second of the run.

Every acked scan of both runs is checked against PostgreSQL (0 lost, 0 duplicated). The figures,
the machine, the command and the targets with their verdicts go to the `scale` section of
docs/benchmarks.md. Exit status 0 when every step ran and passed its checks, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import click
import httpx
import msgpack
from rich.console import Console
from websockets.asyncio.client import connect

from loadtest import accounts, hubs, machine, runner, sections
from loadtest.cli import run_event_loop
from loadtest.holders import Held, Holders, raise_open_files
from loadtest.report import Reporter
from loadtest.scanner import Target

PROG = "python -m loadtest scale"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SCALE_FORMAT = ("loadtest-scale", "^ZS[0-9]{7}$", 30, 30)
"""A parent format of the run's own, added after seeding: name, pattern, capacity, expected kg."""
HOLDER_ACCOUNTS = 25
"""Accounts the held connections share: under MAX_CONNECTIONS_PER_USER (1,000) each."""
CONNECTION_MARGIN = 100
SEED_TIMEOUT = 3600.0
TARGET_START_S = 3.0
TARGET_RSS_MB = 400.0
TARGET_P99_MS = 50.0
LOG_WIDTH = 160


@dataclass(frozen=True)
class Config:
    bags: int
    connections: int
    scanners: int
    rate: float
    dashboards: int
    held_dashboards: int
    duration: float
    touch_scanners: int
    touch_duration: float
    cache_size: int
    database_url: str
    redis_url: str
    seeded: str | None
    keep: bool

    def command(self) -> str:
        words = [*PROG.split(), "--bags", str(self.bags), "--connections", str(self.connections),
                 "--scanners", str(self.scanners), "--rate", f"{self.rate:g}", "--dashboards", str(self.dashboards),
                 "--held-dashboards", str(self.held_dashboards), "--duration", f"{self.duration:g}",
                 "--touch-scanners", str(self.touch_scanners), "--touch-duration", f"{self.touch_duration:g}",
                 "--cache-size", str(self.cache_size), "--database-url", self.database_url]
        return shlex.join(words + (["--seeded", self.seeded] if self.seeded else []))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--bags", type=click.IntRange(min=1), default=10_000_000, show_default=True,
              help="Bags to seed into the fresh database.")
@click.option("--connections", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Websockets on the hub in step 3, the run's scanners and dashboards included.")
@click.option("--scanners", type=click.IntRange(min=1), default=200, show_default=True,
              help="Scanners scanning in step 3 (the other scanners are idle).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=500.0, show_default=True,
              help="Scans per second in step 3, open loop.")
@click.option("--dashboards", type=click.IntRange(min=0), default=200, show_default=True,
              help="Dashboards in step 3 that time their lag and are checked against SQL.")
@click.option("--held-dashboards", type=click.IntRange(min=0), default=800, show_default=True,
              help="Further dashboards in step 3 that take every delta and time nothing.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds of scanning in step 3.")
@click.option("--touch-scanners", type=click.IntRange(min=1), default=100, show_default=True,
              help="Scanners touching seeded parents in step 2, closed loop.")
@click.option("--touch-duration", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds of scanning in step 2.")
@click.option("--cache-size", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="The step 2 hub's BAG_CACHE_SIZE: small enough for the run to fill it several times.")
@click.option("--database-url", default=DEFAULT_DATABASE, show_default=True, metavar="URL",
              help="Admin URL of the PostgreSQL server: the fresh database is created there.")
@click.option("--redis-url", default=DEFAULT_REDIS, show_default=True, metavar="URL",
              help="Only to name its version in the report: the hubs run without Redis.")
@click.option("--seeded", default=None, metavar="NAME",
              help="Skip step 1 and use this database, already seeded (it is kept).")
@click.option("--keep", is_flag=True, help="Keep the fresh database afterwards.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default="docs/benchmarks.md",
              show_default=True, help="Where to write the `scale` section ('' for nowhere).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the whole result as JSON.")
def main(bags: int, connections: int, scanners: int, rate: float, dashboards: int, held_dashboards: int,
         duration: float, touch_scanners: int, touch_duration: float, cache_size: int, database_url: str,
         redis_url: str, seeded: str | None, keep: bool, markdown_path: str, json_path: str | None) -> None:
    """Seed N bags, time the hub's start on them, then hold 10,000 websockets on one hub under scanning."""
    if scanners + dashboards + held_dashboards > connections:
        raise click.UsageError("--scanners, --dashboards and --held-dashboards exceed --connections")
    config = Config(bags, connections, scanners, rate, dashboards, held_dashboards, duration, touch_scanners,
                    touch_duration, cache_size, database_url, redis_url, seeded, keep)
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = LOG_WIDTH
    reporter = Reporter(console)
    result = run_scale(config, reporter)
    text = render(result)
    console.print(text)
    if markdown_path:
        sections.write(markdown_path, "scale", text)
        reporter.say(f"wrote the scale section of {markdown_path}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    if not passed(result):
        raise SystemExit(1)


def run_scale(config: Config, reporter: Reporter) -> dict[str, Any]:
    """The three steps; the result the report is drawn from (an `error` when a step could not run)."""
    result: dict[str, Any] = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                              "command": config.command(), "open_files": raise_open_files(),
                              "machine": machine.describe(config.database_url, config.redis_url),
                              "config": config.__dict__}
    name = config.seeded or f"loadtest_scale_{runner.new_run_id().lower()}"
    try:
        with contextlib.ExitStack() as stack:
            if config.seeded:
                url = hubs.with_database(config.database_url, config.seeded)
            else:
                url = stack.enter_context(hubs.fresh_database(config.database_url, name, config.keep))
                reporter.heading(f"1. seeding {config.bags:,} bags into {name}")
                result["seed"] = seed(url, config.bags, reporter.say)
            result["bags_in_database"] = asyncio.run(_count_bags(url))
            reporter.heading("2. the hub's start on them, and a run touching seeded parents")
            result["start"] = start_and_touch(url, config, reporter)
            reporter.heading(f"3. {config.connections:,} websockets on one hub, {config.rate:g} scans/s")
            result["connections"] = hold_connections(url, config, reporter)
    except (runner.RunFailed, accounts.AccountError, hubs.HubFailed, RuntimeError, OSError,
            asyncpg.PostgresError) as exc:
        reporter.say(f"the scale benchmark could not finish: {exc}")
        result["error"] = str(exc)
    return result


def seed(url: str, bags: int, say: Callable[[str], None]) -> dict[str, Any]:
    """`tracetrack seed --bags N` on `url`; its wall time and its report."""
    environ = {**os.environ, "DATABASE_URL": url}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "hub", "seed", "--bags", str(bags)], env=environ,
                          capture_output=True, text=True, timeout=SEED_TIMEOUT, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise hubs.HubFailed(f"tracetrack seed exited with {done.returncode}: {done.stderr[-2000:]}")
    report = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""  # later lines hold a password
    say(f"seeded in {seconds:.0f} s: {report}")
    return {"seconds": round(seconds, 1), "bags": bags, "report": report}


async def _count_bags(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM bags", timeout=600))
    finally:
        await conn.close()


def rss_mb(pid: int) -> float:
    """Resident set size of process `pid` in MB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise OSError(f"no VmRSS for process {pid}")


class _RssTrace:
    """The hub's RSS once a second of a run, and its peak."""

    def __init__(self, pid: int, reporter: Reporter) -> None:
        self.pid = pid
        self.reporter = reporter
        self.samples: list[float] = []

    def __call__(self, point: dict[str, Any]) -> None:
        self.samples.append(rss_mb(self.pid))
        self.reporter.progress(point)

    def figures(self, prefix: str) -> dict[str, Any]:
        half = self.samples[len(self.samples) // 2] if self.samples else None
        return {f"{prefix}_peak_mb": max(self.samples, default=None), f"{prefix}_halfway_mb": half,
                f"{prefix}_end_mb": self.samples[-1] if self.samples else None, f"{prefix}_trace_mb": self.samples}


@contextlib.contextmanager
def _timed_hub(env: dict[str, str]) -> Any:
    """A hub process, and the seconds from its spawn to its first 200 from /ready."""
    spawned = time.monotonic()
    with hubs.hub_process(env) as hub:
        yield hub, time.monotonic() - spawned, spawned


def start_and_touch(url: str, config: Config, reporter: Reporter) -> dict[str, Any]:
    """Step 2: time the start, read RSS, run scanners over seeded parents with a small bag cache."""
    probe = asyncio.run(_probe_account(url))
    env = {**hubs.hub_env(url, None, None), "BAG_CACHE_SIZE": str(config.cache_size)}
    with _timed_hub(env) as (hub, ready_s, spawned):
        first_ack_s = run_event_loop(_first_ack(hub.url, probe, spawned))
        figures: dict[str, Any] = {"ready_s": round(ready_s, 2), "first_ack_s": round(first_ack_s, 2),
                                   "rss_after_start_mb": rss_mb(hub.pid), "cache_size": config.cache_size}
        reporter.say(f"ready {ready_s:.2f} s after spawn, first ack at {first_ack_s:.2f} s, "
                     f"RSS {figures['rss_after_start_mb']} MB")
        trace = _RssTrace(hub.pid, reporter)
        options = runner.Options(
            urls=(hub.url,), scanners=config.touch_scanners, rate=None, duration=config.touch_duration, window=8,
            drain=5.0, database_url=url, user=None, password=None, accounts=10, echo=False, dashboards=0,
            timezone="UTC", fresh_parents=False)
        run = run_event_loop(runner.run(options, reporter.say, trace))
        reporter.summary(run)
        figures.update(trace.figures("rss_touch"), run=_run_figures(run))
    return figures


async def _probe_account(url: str) -> accounts.Account:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        return (await accounts.create_accounts(pool, f"probe{runner.new_run_id().lower()}", 1))[0]
    finally:
        await pool.close()


async def _first_ack(hub_url: str, account: accounts.Account, spawned: float) -> float:
    """Log in, connect a scanner, scan a parent: seconds from the hub's spawn to that scan's ack."""
    async with httpx.AsyncClient(timeout=60) as client:
        token = await accounts.login(client, hub_url, account)
    target = Target(hub_url, token)
    async with connect(target.ws_url("/ws/scan"), compression=None,
                       additional_headers={"Cookie": f"tt_session={token}"}) as ws:
        await ws.send(msgpack.packb({"t": "hello", "device": f"probe-{runner.new_run_id().lower()}",
                                     "last_seq": 0}))
        await ws.recv()
        await ws.send(msgpack.packb({"t": "op", "seq": 1, "op": "parent", "code": "SB00000",
                                     "at": int(time.time() * 1000)}))
        while msgpack.unpackb(await ws.recv()).get("t") != "ack":
            pass
    return time.monotonic() - spawned


async def _add_scale_format(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("INSERT INTO parent_formats (name, pattern, capacity, expected_kg) VALUES ($1, $2, $3, $4)"
                           " ON CONFLICT (name) DO NOTHING", *SCALE_FORMAT)
    finally:
        await conn.close()


def hold_connections(url: str, config: Config, reporter: Reporter) -> dict[str, Any]:
    """Step 3: idle connections held by workers, then the measured run beside them."""
    asyncio.run(_add_scale_format(url))
    env = {**hubs.hub_env(url, None, None), "MAX_CONNECTIONS": str(config.connections + CONNECTION_MARGIN)}
    held_count = config.connections - config.scanners - config.dashboards
    with _timed_hub(env) as (hub, ready_s, _):
        rss_idle = rss_mb(hub.pid)
        held = asyncio.run(_held(url, hub.url, held_count, config.held_dashboards))
        with Holders(held) as holders:
            reporter.say(f"opening {held_count:,} idle connections ({config.held_dashboards:,} dashboards)")
            opened_at = time.monotonic()
            opened, errors = run_event_loop(holders.start())
            open_s = time.monotonic() - opened_at
            rss_held = rss_mb(hub.pid)
            reporter.say(f"{opened:,} open in {open_s:.0f} s, hub RSS {rss_held} MB (it was {rss_idle} MB)")
            trace = _RssTrace(hub.pid, reporter)
            options = runner.Options(
                urls=(hub.url,), scanners=config.scanners, rate=config.rate, duration=config.duration, window=8,
                drain=5.0, database_url=url, user=None, password=None, accounts=10, echo=False,
                dashboards=config.dashboards, timezone="UTC")
            run = run_event_loop(runner.run(options, reporter.say, trace))
            reporter.summary(run)
            still_open, errors_after = run_event_loop(holders.stop())
    return {"ready_s": round(ready_s, 2), "rss_idle_mb": rss_idle, "held": held_count, "held_open": opened,
            "held_open_s": round(open_s, 1), "held_still_open": still_open,
            "held_errors": dict(errors + errors_after), "rss_held_mb": rss_held,
            "open_connections": opened + run["connected"] + run.get("dashboards", 0),
            **trace.figures("rss_run"), "run": _run_figures(run)}


async def _held(url: str, hub_url: str, count: int, dashboards: int) -> list[Held]:
    """The idle connections: `dashboards` dashboards and the rest scanners, over accounts of their own."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        run_id = f"held{runner.new_run_id().lower()}"
        operators = await accounts.create_accounts(pool, run_id, HOLDER_ACCOUNTS)
    finally:
        await pool.close()
    tokens = await accounts.login_all([hub_url], operators)

    def target(n: int) -> Target:
        return Target(hub_url, tokens[(hub_url, operators[n % len(operators)].username)])

    return [Held("dashboard", target(n)) if n < dashboards else Held("scanner", target(n), f"lt-{run_id}-{n:05d}")
            for n in range(count)]


RUN_FIELDS = ("scanners", "connected", "rate", "duration_s", "scans_per_s", "acked", "ack_p50_ms", "ack_p99_ms",
              "ack_max_ms", "lost", "duplicated", "errors", "parents_used", "dashboards", "dashboard_lag_p50_ms",
              "dashboard_lag_p99_ms")


def _run_figures(run: dict[str, Any]) -> dict[str, Any]:
    figures = {name: run.get(name) for name in RUN_FIELDS}
    check = run.get("dashboard_check")
    figures["dashboard_check_ok"] = None if check is None else check["ok"]
    figures["dashboard_mismatched"] = [] if check is None else check["mismatched"][:3]
    figures["check_ok"] = None if run.get("check") is None else run["check"].get("ok")
    return figures


def _run_passed(run: dict[str, Any]) -> bool:
    return bool(run["acked"]) and run["lost"] == 0 and run["duplicated"] == 0 and run["check_ok"] is not False \
        and run["dashboard_check_ok"] is not False


def passed(result: dict[str, Any]) -> bool:
    """Every step ran, and every acked scan is stored once (dashboards agreeing with SQL)."""
    return "error" not in result and _run_passed(result["start"]["run"]) and \
        _run_passed(result["connections"]["run"])


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each of the issue's targets that the result speaks to."""
    rows: list[tuple[str, str, bool | None]] = []
    start = result.get("start")
    if start:
        rows.append((f"start with {result['bags_in_database']:,} bags in PostgreSQL < {TARGET_START_S:g} s",
                     f"{start['ready_s']:.2f} s to ready", start["ready_s"] < TARGET_START_S))
    held = result.get("connections")
    if held:
        peak = held["rss_run_peak_mb"]
        rows.append((f"{result['config']['connections']:,} websockets on one hub < {TARGET_RSS_MB:g} MB RSS",
                     f"{held['open_connections']:,} open, peak {peak} MB",
                     peak is not None and peak < TARGET_RSS_MB
                     and held["open_connections"] >= result["config"]["connections"]))
        p99 = held["run"]["ack_p99_ms"]
        rows.append((f"ack p99 < {TARGET_P99_MS:g} ms at {result['config']['rate']:g} scans/s beside them",
                     f"{p99} ms", p99 is not None and p99 < TARGET_P99_MS))
    return rows


def _verdict(met: bool | None) -> str:
    return "—" if met is None else ("met" if met else "**missed**")


def render(result: dict[str, Any]) -> str:
    """The `scale` section of docs/benchmarks.md."""
    config = result["config"]
    lines = ["## Scale on one process", "",
             f"Written by `{PROG}` on {result['date']}; run it again rather than edit this section.", "",
             "```sh", result["command"], "```", ""]
    lines += ["| machine | |", "|---|---|"]
    lines += [f"| {label} | {result['machine'].get(key)} |" for key, label in machine.LABELS]
    lines += [f"| open files (RLIMIT_NOFILE) | {result['open_files']:,} |", ""]
    if "error" in result:
        lines += [f"**The run did not finish:** {result['error']}", ""]
    lines += ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {_verdict(met)} |" for name, measured, met in targets(result)]
    lines.append("")
    seeded = result.get("seed")
    if seeded:
        lines += [f"**1. Seed**: {seeded['bags']:,} bags in {seeded['seconds']:.0f} s "
                  f"({seeded['bags'] / seeded['seconds']:,.0f} bags/s): {seeded['report']}", ""]
    elif "bags_in_database" in result:
        lines += [f"**1. Seed**: not timed in this run (`--seeded {config['seeded']}`).", ""]
    start = result.get("start")
    if start:
        run = start["run"]
        lines += [f"**2. Start** with {result['bags_in_database']:,} bags: spawn to ready {start['ready_s']:.2f} s; "
                  f"to the first ack (a login's argon2 included) {start['first_ack_s']:.2f} s; RSS after start "
                  f"{start['rss_after_start_mb']} MB. Then {run['scanners']} scanners, closed loop, "
                  f"{run['duration_s']:g} s, taking parent codes whether seeded or not: {run['parents_used']:,} "
                  f"parents touched, {run['acked']:,} acks, with BAG_CACHE_SIZE={start['cache_size']:,}. "
                  f"RSS halfway {start['rss_touch_halfway_mb']} MB, at the end {start['rss_touch_end_mb']} MB, "
                  f"peak {start['rss_touch_peak_mb']} MB.", ""]
    held = result.get("connections")
    if held:
        run = held["run"]
        lines += [f"**3. Connections**: a hub (ready in {held['ready_s']:.2f} s, RSS {held['rss_idle_mb']} MB) "
                  f"holds {held['held_open']:,} idle connections of {held['held']:,} "
                  f"({config['held_dashboards']:,} dashboards taking every delta, the rest scanners that said "
                  f"hello; opened in {held['held_open_s']:.0f} s by four worker processes): RSS "
                  f"{held['rss_held_mb']} MB. Beside them {run['connected']} scanners at {run['rate']:g} scans/s "
                  f"open loop and {run['dashboards'] or 0} timed dashboards, {run['duration_s']:g} s: RSS halfway "
                  f"{held['rss_run_halfway_mb']} MB, peak {held['rss_run_peak_mb']} MB; "
                  f"{held['held_still_open']:,} idle connections still open at the end; their errors: "
                  f"{', '.join(f'{k} {v}' for k, v in sorted(held['held_errors'].items())) or 'none'}.", ""]
    lines += ["| run | scans/s | acks | ack p50 | p99 | max | lost | duplicated | dashboard lag p50 / p99 | errors |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for title, step in (("2. touching seeded parents", start), ("3. beside the held connections", held)):
        if step:
            run = step["run"]
            lag = (f"{run['dashboard_lag_p50_ms']} / {run['dashboard_lag_p99_ms']} ms" if run.get("dashboards")
                   else "—")
            errors = ", ".join(f"{k} {v}" for k, v in sorted((run["errors"] or {}).items())) or "none"
            lines.append(f"| {title} | {run['scans_per_s']} | {run['acked']:,} | {run['ack_p50_ms']} ms | "
                         f"{run['ack_p99_ms']} ms | {run['ack_max_ms']} ms | {run['lost']} | {run['duplicated']} | "
                         f"{lag} | {errors} |")
    lines += ["", "RSS is VmRSS of the hub process from /proc/PID/status, read once a second. The load generator "
              "(scanners, two dashboard workers, four holder workers), PostgreSQL and the hub share the machine's "
              "cores."]
    return "\n".join(lines)

