"""`python -m loadtest suite`: the benchmark suite of issue 10, in one go on one machine.

Each scenario is one `runner.run` against servers started for it alone: the echo server, or hub
processes on a fresh database (two hubs share a Redis prefix of their own). Around the run the hubs'
and PostgreSQL's CPU time is read from /proc at the instants the timed window opens and closes, and
once a second for the charts. Of a scenario's dashboards only a sample (`--timed-dashboards`) decode
the deltas, time their lag and are checked against SQL; the others read every frame and decode
nothing, so that the hubs serve them all while the load generator, on the same cores, spends little on
them. The figures are printed, written as docs/benchmarks.md beside the
issue's targets, and drawn in a self-contained HTML report.

Exit status 0 when every scenario ran and passed its checks (0 lost, 0 duplicated, dashboards
agreeing with SQL), 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import click
from rich.console import Console

from loadtest import cpu, hubs, machine, markdown, runner, sections
from loadtest.accounts import AccountError
from loadtest.cli import DEFAULT_ACCOUNTS, run_event_loop
from loadtest.echo import echo_server
from loadtest.figures import scenario_figures
from loadtest.report import Reporter
from loadtest.targets import judge_all

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
QUICK_DURATION = 3.0
QUICK_SCALE = 0.05
PROG = "python -m loadtest suite"
LOG_WIDTH = 160
COMMAND_PORTS = 8001
DEFAULT_TIMED_DASHBOARDS = 20
"""First port in the printed per-scenario commands (the suite itself takes free ports)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    scanners: int
    window: int
    rate: float | None = None
    hubs: int = 1
    """Hub processes; 0 for the echo server."""
    dashboards: int = 0

    def scaled(self, scale: float) -> Scenario:
        """The same scenario with `scale` times the scanners, dashboards and rate (at least one of each)."""
        if scale == 1:
            return self
        return dataclasses.replace(
            self, scanners=max(self.hubs or 1, round(self.scanners * scale)),
            dashboards=max(1, round(self.dashboards * scale)) if self.dashboards else 0,
            rate=self.rate * scale if self.rate else None,
        )

    def dashboard_split(self, timed: int) -> tuple[int, int]:
        """Of this scenario's dashboards, how many decode and time (at most `timed`) and how many hold."""
        timing = min(timed, self.dashboards)
        return timing, self.dashboards - timing


SCENARIOS = (
    Scenario("echo", "Echo ceiling: bare websocket echo, 200 scanners × window 64", 200, 64, hubs=0),
    Scenario("saturated", "Hub saturated: 200 scanners × window 64, closed loop, one hub", 200, 64),
    Scenario("open-1000", "Open loop, 1,000 scans/s, 500 scanners, one hub", 500, 8, rate=1000),
    Scenario("open-2000", "Open loop, 2,000 scans/s, 500 scanners, one hub", 500, 8, rate=2000),
    Scenario("human", "Human pace: 50 scanners, one scan at a time each (window 1), closed loop", 50, 1),
    Scenario("dashboards", "Two hubs + Redis, 200 dashboards, 2,000 scans/s, 500 scanners", 500, 8, rate=2000,
             hubs=2, dashboards=200),
)
NAMES = tuple(scenario.name for scenario in SCENARIOS)


@dataclass(frozen=True)
class Config:
    duration: float
    drain: float
    scale: float
    database_url: str
    redis_url: str
    keep: bool
    suite_id: str
    timed_dashboards: int = DEFAULT_TIMED_DASHBOARDS


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds of scanning per scenario [default: 60; 3 with --quick].")
@click.option("--quick", is_flag=True,
              help=f"A smoke run: {QUICK_DURATION:g} s per scenario and --scale {QUICK_SCALE:g}, unless given.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Multiply every scenario's scanners, dashboards and rate [default: 1; "
                   f"{QUICK_SCALE:g} with --quick]. The targets speak of scale 1.")
@click.option("--timed-dashboards", type=click.IntRange(min=1), default=DEFAULT_TIMED_DASHBOARDS, show_default=True,
              help="Of a scenario's dashboards, how many decode every delta, time its lag and are checked "
                   "against SQL; the others read every frame and decode nothing (not scaled by --scale).")
@click.option("--only", multiple=True, type=click.Choice(NAMES), metavar="NAME",
              help=f"Run only this scenario (repeatable): {', '.join(NAMES)}. Without the echo, no ratio.")
@click.option("--drain", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds each scenario waits at most for outstanding acks after its duration.")
@click.option("--database-url", default=DEFAULT_DATABASE, show_default=True, metavar="URL",
              help="Admin URL of the PostgreSQL server: a fresh database is created there for each scenario.")
@click.option("--redis-url", default=DEFAULT_REDIS, show_default=True, metavar="URL",
              help="Redis for the two-hub scenario (under a key prefix of its own).")
@click.option("--keep", is_flag=True, help="Keep each scenario's database and Redis keys afterwards.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default="docs/benchmarks.md",
              show_default=True, help="Where to write the figures as Markdown ('' for nowhere).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default="docs/benchmarks.html",
              show_default=True, help="Where to write the HTML report with charts ('' for nowhere).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the whole result, timelines included, as JSON.")
def main(duration: float | None, quick: bool, scale: float | None, timed_dashboards: int, only: tuple[str, ...],
         drain: float, database_url: str, redis_url: str, keep: bool, markdown_path: str, html_path: str,
         json_path: str | None) -> None:
    """Run the benchmark suite: echo ceiling, saturated hub, open loop, human pace, two hubs with dashboards."""
    config = Config(duration=duration or (QUICK_DURATION if quick else 60.0), drain=drain,
                    scale=scale or (QUICK_SCALE if quick else 1.0), database_url=database_url,
                    redis_url=redis_url, keep=keep, suite_id=runner.new_run_id().lower(),
                    timed_dashboards=timed_dashboards)
    console = Console(highlight=False)
    if not console.is_terminal:  # into a log: wide tables rather than rich's 80 folded columns
        console.width = LOG_WIDTH
    reporter = Reporter(console)
    chosen = [scenario for scenario in SCENARIOS if not only or scenario.name in only]
    result = run_suite(config, chosen, reporter, suite_command(config, only))
    reporter.overview(result["scenarios"])
    _write(result, markdown_path, html_path, json_path, reporter)
    if not all(_passed(figures) for figures in result["scenarios"]):
        raise SystemExit(1)


def suite_command(config: Config, only: tuple[str, ...]) -> str:
    """The command line of this run with every choice spelled out, defaults resolved."""
    words = [*PROG.split(), "--duration", f"{config.duration:g}", "--scale", f"{config.scale:g}",
             "--timed-dashboards", str(config.timed_dashboards), "--drain", f"{config.drain:g}",
             "--database-url", config.database_url, "--redis-url", config.redis_url]
    for name in only:
        words += ["--only", name]
    return shlex.join(words + ["--keep"] * config.keep)


def run_suite(config: Config, chosen: list[Scenario], reporter: Reporter, command: str) -> dict[str, Any]:
    """Run the scenarios in turn; the suite's result, from which every report is drawn."""
    started = datetime.datetime.now().astimezone()
    scenarios = []
    echo_rate = None
    for scenario in chosen:
        figures = run_scenario(scenario.scaled(config.scale), config, reporter)
        if "error" not in figures:
            if scenario.name == "echo":
                echo_rate = figures["scans_per_s"]
            elif echo_rate:
                figures["echo_ratio"] = round(figures["scans_per_s"] / echo_rate, 3)
            reporter.scenario(figures)
        scenarios.append(figures)
    return {
        "date": started.isoformat(timespec="seconds"), "command": command,
        "machine": machine.describe(config.database_url, config.redis_url),
        "config": {"duration_s": config.duration, "drain_s": config.drain, "scale": config.scale,
                   "full_size": config.scale == 1 and config.duration >= 60, "suite_id": config.suite_id},
        "scenarios": scenarios, "targets": judge_all({s["name"]: s for s in scenarios}),
    }


def run_scenario(scenario: Scenario, config: Config, reporter: Reporter) -> dict[str, Any]:
    """One scenario on servers of its own; its figures, or its error when it could not run."""
    reporter.heading(scenario.title)
    timed, held = scenario.dashboard_split(config.timed_dashboards)
    shape = {"name": scenario.name, "title": scenario.title, "scanners": scenario.scanners,
             "window": scenario.window, "rate": scenario.rate, "hubs": scenario.hubs,
             "dashboards": scenario.dashboards, "timed_dashboards": timed, "held_dashboards": held,
             "duration_s": config.duration}
    try:
        with contextlib.ExitStack() as stack:
            options, pids, env = _servers(scenario, config, stack)
            database = urlsplit(options.database_url).path.lstrip("/") if options.database_url else None
            meter = cpu.Meter(pids, database)

            def progress(point: dict[str, Any]) -> None:
                meter.tick(point["t"])
                reporter.progress(point)

            result = run_event_loop(runner.run(options, reporter.say, progress, meter.mark))
    except (runner.RunFailed, AccountError, hubs.HubFailed, OSError, asyncpg.PostgresError) as exc:
        reporter.say(f"{scenario.name} could not run: {exc}")
        return {**shape, "error": str(exc), "commands": []}
    reporter.summary(result)
    figures = {**shape, **scenario_figures(result, meter, bool(pids)),
               "commands": commands(scenario, options, env, config.database_url)}
    return figures


def _servers(scenario: Scenario, config: Config,
             stack: contextlib.ExitStack) -> tuple[runner.Options, list[int], dict[str, str]]:
    """Start what the scenario runs against; its runner options, the hub pids and the hubs' settings."""
    timed, held = scenario.dashboard_split(config.timed_dashboards)
    options = runner.Options(
        urls=(), scanners=scenario.scanners, rate=scenario.rate, duration=config.duration, window=scenario.window,
        drain=config.drain, database_url=None, user=None, password=None,
        accounts=min(scenario.scanners, DEFAULT_ACCOUNTS), echo=not scenario.hubs, dashboards=timed,
        timezone="UTC", held_dashboards=held,
    )
    if not scenario.hubs:
        return dataclasses.replace(options, urls=(stack.enter_context(echo_server()),)), [], {}
    name = f"loadtest_suite_{config.suite_id}_{scenario.name.replace('-', '_')}"
    database_url = stack.enter_context(hubs.fresh_database(config.database_url, name, config.keep))
    prefix = None
    if scenario.hubs > 1:
        prefix = stack.enter_context(hubs.redis_prefix(config.redis_url, f"loadtest-suite-{config.suite_id}",
                                                       config.keep))
    env = hubs.hub_env(database_url, config.redis_url if prefix else None, prefix)
    started = [stack.enter_context(hubs.hub_process(env)) for _ in range(scenario.hubs)]
    options = dataclasses.replace(options, urls=tuple(hub.url for hub in started), database_url=database_url)
    return options, [hub.pid for hub in started], env


def commands(scenario: Scenario, options: runner.Options, env: dict[str, str], admin_url: str) -> list[str]:
    """Shell commands that run this scenario by hand, as the suite ran it (free ports aside)."""
    drive = ["python", "-m", "loadtest", "--scanners", str(options.scanners), "--window", str(options.window),
             "--duration", f"{options.duration:g}", "--drain", f"{options.drain:g}"]
    if options.rate:
        drive += ["--rate", f"{options.rate:g}"]
    if options.dashboards:
        drive += ["--dashboards", str(options.dashboards)]
    if options.held_dashboards:
        drive += ["--held-dashboards", str(options.held_dashboards)]
    if options.echo:
        return [shlex.join([*drive[:3], "--echo", *drive[3:]])]
    database = env["DATABASE_URL"]
    name = database.rsplit("/", 1)[1].split("?")[0]
    lines = [f"psql {shlex.quote(admin_url)} -c 'CREATE DATABASE {name}'"]
    urls = []
    for n in range(scenario.hubs):
        port = COMMAND_PORTS + n
        settings = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        lines.append(f"ADMIN_PASSWORD=... {settings} python -m hub serve --port {port} &")
        urls += ["--url", f"http://127.0.0.1:{port}"]
    lines.append(shlex.join([*drive[:3], *urls, "--database-url", database, *drive[3:]]))
    return lines


def _passed(figures: dict[str, Any]) -> bool:
    return "error" not in figures and figures["acked"] > 0 and all(
        figures.get(check) is not False for check in ("check_ok", "dashboard_check_ok"))


def _write(result: dict[str, Any], markdown_path: str, html_path: str, json_path: str | None,
           reporter: Reporter) -> None:
    if markdown_path:
        target = Path(markdown_path)
        old = target.read_text() if target.exists() else ""
        target.write_text(sections.keep(old, markdown.render(result)))
        reporter.say(f"wrote {markdown_path}")
    if html_path:
        try:
            from loadtest import htmlreport
        except ImportError as exc:
            raise click.ClickException(f"the HTML report needs matplotlib ({exc}): "
                                       "pip install 'tracetrack[bench]', or give --html ''") from None
        Path(html_path).write_text(htmlreport.render(result))
        reporter.say(f"wrote {html_path}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
        reporter.say(f"wrote {json_path}")
