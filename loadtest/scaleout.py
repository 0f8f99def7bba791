"""`python -m loadtest scaleout`: throughput with 1, 2 and 3 hubs behind HAProxy, in one run.

One HAProxy (deploy/haproxy.cfg, through loadtest.balancer) listens throughout; the hubs share a
fresh database and a Redis key prefix of the run's own. Step k starts hub k on the address the
configuration gives it, waits until HAProxy has it in rotation, and drives the same load through
HAProxy's one address: every scanner of the step connects there, and `balance leastconn` spreads
them over the k hubs. The steps share the database, so a later step starts on the tables the earlier
ones filled. CPU per scan is read from /proc around each step's timed window: the hubs', PostgreSQL's
and HAProxy's. The figures are printed and written as the "scale-out" section of docs/benchmarks.md.

Exit status 0 when every step ran and passed its checks (0 lost, 0 duplicated), 1 otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import secrets
import shlex
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console

from loadtest import balancer, cpu, hubs, machine, markdown, runner, sections
from loadtest.cli import DEFAULT_ACCOUNTS, run_event_loop
from loadtest.figures import scenario_figures
from loadtest.machine import LABELS
from loadtest.report import Reporter
from loadtest.suite import DEFAULT_DATABASE, DEFAULT_REDIS, LOG_WIDTH

PROG = "python -m loadtest scaleout"
SECTION = "scale-out"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Seconds of scanning per step.")
@click.option("--scanners", type=click.IntRange(min=1), default=200, show_default=True,
              help="Simulated scanners in each step, all connecting through HAProxy.")
@click.option("--window", type=click.IntRange(min=1), default=8, show_default=True,
              help="Unacked operations per scanner at most.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Scans per second in total, open loop. Omitted: as fast as acks allow (the throughput).")
@click.option("--drain", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds each step waits at most for outstanding acks after its duration.")
@click.option("--database-url", default=DEFAULT_DATABASE, show_default=True, metavar="URL",
              help="Admin URL of the PostgreSQL server: the run's fresh database is created there.")
@click.option("--redis-url", default=DEFAULT_REDIS, show_default=True, metavar="URL",
              help="The hubs' Redis (under a key prefix of the run's own).")
@click.option("--keep", is_flag=True, help="Keep the run's database and Redis keys afterwards.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default="docs/benchmarks.md",
              show_default=True, help=f"Where to write the {SECTION!r} section ('' for nowhere).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the whole result, timelines included, as JSON.")
def main(duration: float, scanners: int, window: int, rate: float | None, drain: float, database_url: str,
         redis_url: str, keep: bool, markdown_path: str, json_path: str | None) -> None:
    """Measure scans/s, ack latency and CPU per scan with 1, 2 and 3 hubs behind HAProxy."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = LOG_WIDTH
    reporter = Reporter(console)
    options = runner.Options(urls=(), scanners=scanners, rate=rate, duration=duration, window=window, drain=drain,
                             database_url=None, user=None, password=None,
                             accounts=min(scanners, DEFAULT_ACCOUNTS), echo=False, dashboards=0, timezone="UTC")
    started = datetime.datetime.now().astimezone()
    try:
        steps = run_steps(options, database_url, redis_url, keep, reporter)
    except hubs.HubFailed as exc:
        raise click.ClickException(str(exc)) from None
    result = {"date": started.isoformat(timespec="seconds"), "machine": machine.describe(database_url, redis_url),
              "command": command(options, database_url, redis_url, keep), "steps": steps}
    reporter.heading("scale-out")
    for step in steps:
        reporter.say(_step_line(step))
    if markdown_path:
        sections.write(markdown_path, SECTION, render(result))
        reporter.say(f"wrote the {SECTION!r} section of {markdown_path}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    if not all(step["check_ok"] and step["acked"] and step["connected"] == step["scanners"] for step in steps):
        raise SystemExit(1)


def command(options: runner.Options, database_url: str, redis_url: str, keep: bool) -> str:
    """This run's command line, every choice spelled out."""
    words = [*PROG.split(), "--duration", f"{options.duration:g}", "--scanners", str(options.scanners),
             "--window", str(options.window), "--drain", f"{options.drain:g}"]
    if options.rate:
        words += ["--rate", f"{options.rate:g}"]
    return shlex.join([*words, "--database-url", database_url, "--redis-url", redis_url] + ["--keep"] * keep)


def run_steps(options: runner.Options, admin_url: str, redis_url: str, keep: bool,
              reporter: Reporter) -> list[dict[str, Any]]:
    """Start HAProxy, then one hub more before each step; each step's figures."""
    run_id = runner.new_run_id().lower()
    ports = [hubs.free_port() for _ in balancer.SERVERS]
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracetrack-scaleout-")))
        database_url = stack.enter_context(hubs.fresh_database(admin_url, f"loadtest_scaleout_{run_id}", keep))
        prefix = stack.enter_context(hubs.redis_prefix(redis_url, f"loadtest-scaleout-{run_id}", keep))
        env = {**hubs.hub_env(database_url, redis_url, prefix), "SESSION_SECRET": secrets.token_urlsafe(32)}
        lb = stack.enter_context(balancer.haproxy([f"127.0.0.1:{port}" for port in ports], workdir / "haproxy.log"))
        pids: list[int] = []
        steps = []
        for count, port in enumerate(ports, start=1):
            reporter.heading(f"{count} hub(s) behind HAProxy")
            pids.append(stack.enter_context(hubs.hub_process(env, port)).pid)
            lb.wait_for({name: "UP" if n < count else "DOWN" for n, name in enumerate(balancer.SERVERS)})
            steps.append(run_step(options, lb, pids, database_url, reporter))
    return steps


def run_step(options: runner.Options, lb: balancer.Balancer, pids: list[int], database_url: str,
             reporter: Reporter) -> dict[str, Any]:
    """One load run through HAProxy against the hubs `pids`; its figures, HAProxy's CPU per scan added."""
    meter = cpu.Meter(list(pids), urlsplit(database_url).path.lstrip("/"))
    proxy: list[int | None] = []
    sessions: dict[str, int] = {}

    def on_window(phase: runner.Phase) -> None:
        meter.mark(phase)
        proxy.append(cpu.ticks(lb.pid))
        if phase == "end":  # a local request of a few milliseconds, as the scanners stop sending
            sessions.update({name: server.sessions for name, server in lb.servers().items()})

    def progress(point: dict[str, Any]) -> None:
        meter.tick(point["t"])
        reporter.progress(point)

    step = {"hubs": len(pids), "scanners": options.scanners, "window": options.window, "rate": options.rate,
            "duration_s": options.duration, "load_average": round(os.getloadavg()[0], 2)}
    step_options = dataclasses.replace(options, urls=(lb.url,), database_url=database_url)
    result = run_event_loop(runner.run(step_options, reporter.say, progress, on_window))
    reporter.summary(result)
    figures = {**step, **scenario_figures(result, meter, True)}
    start, end = proxy[0], proxy[-1]
    scans = result["scans_in_window"]
    figures["haproxy_cpu_us_per_scan"] = (round((end - start) * 1e6 / cpu.CLOCK_TICKS / scans, 1)
                                          if start is not None and end is not None and scans else None)
    figures["sessions"] = sessions
    return figures


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _row(step: dict[str, Any], single: float | None) -> tuple[str, ...]:
    speedup = f"{step['scans_per_s'] / single:.2f}×" if single else "—"
    return (str(step["hubs"]), _number(step["scans_per_s"]), speedup, f"{step['ack_p50_ms']} / {step['ack_p99_ms']}",
            _number(step["hub_cpu_us_per_scan"]), _number(step["postgres_cpu_us_per_scan"]),
            _number(step["haproxy_cpu_us_per_scan"]), f"{_number(step['lost'])} / {_number(step['duplicated'])}",
            _number(step["load_average"]))


HEADER = ("hubs", "scans/s", "÷ 1 hub", "ack p50 / p99 ms", "CPU µs/scan hubs", "PostgreSQL", "HAProxy",
          "lost / dup", "load avg")


def _step_line(step: dict[str, Any]) -> str:
    return "  ".join(f"{name} {value}" for name, value in zip(HEADER, _row(step, None)))


def render(result: dict[str, Any]) -> str:
    """The "scale-out" section of docs/benchmarks.md."""
    steps = result["steps"]
    first = steps[0]
    cores = result["machine"]["cores"]
    load = f"open loop at {first['rate']:g} scans/s" if first["rate"] else "closed loop (as fast as acks allow)"
    lines = ["## Scale-out: 1, 2 and 3 hubs behind HAProxy", "",
             f"Written by `{PROG}` on {result['date']}; run it again rather than edit this section.", "",
             "```sh", result["command"], "```", "",
             f"Each step: {first['scanners']} scanners, {load}, {first['duration_s']:g} s, every scanner "
             "connecting to HAProxy's one address (deploy/haproxy.cfg, `balance leastconn`); the hubs share "
             "one PostgreSQL database (the steps in turn, so a later step starts on more rows) and one Redis. "
             "CPU per scan is utime + stime over the timed window, as in the suite; load avg is the "
             "machine's one-minute load average as the step began (other work on the machine shows there)."
             + (" In a closed loop the ack latency is mostly the wait behind the operations in flight "
                f"({first['scanners']} × window {first['window']}), not the time one scan takes."
                if not first["rate"] else ""), ""]
    lines += markdown.table(HEADER, [_row(step, first["scans_per_s"]) for step in steps])
    spread = "; ".join(f"{step['hubs']} hub(s): " + ", ".join(f"{name} {n}" for name, n in step["sessions"].items()
                                                              if n) for step in steps)
    lines += ["", f"Scanners per hub as each timed window closed (HAProxy's statistics): {spread}.", "",
              f"On this machine ({cores} cores, shared by the hubs, PostgreSQL, Redis, HAProxy and the load "
              "generator) more hubs cannot add CPU: a hub added splits the same cores further. What the steps "
              "show here is that HAProxy spreads the scanners and the hubs share the load with nothing lost, "
              "and what a hub more costs per scan; a throughput gain from scale-out needs hubs on cores (or "
              "machines) of their own."
              + (f" The load average was above the {cores} cores (other work shared the machine): the figures "
                 "move with that work, and more hub processes may simply win a larger share of the contended "
                 "cores, so a rise from step to step here is no scale-out gain."
                 if max(step["load_average"] for step in steps) > cores else ""), "",
              "### Machine", ""]
    lines += markdown.table(("", ""), [(label, str(result["machine"][key])) for key, label in LABELS])
    return "\n".join(lines)
