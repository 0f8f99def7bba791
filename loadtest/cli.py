"""`python -m loadtest`: the options, the run, the summary and the JSON file.

Exit status 0 when the run passed, 1 when it failed (nothing acked, or a final check against
PostgreSQL failed: a lost, duplicated or wrongly recorded scan, a missing link, or a dashboard
whose counters differ from SQL's), 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
import click
from rich.console import Console

from loadtest import runner
from loadtest.accounts import AccountError
from loadtest.echo import echo_server
from loadtest.report import Reporter

T = TypeVar("T")

DEFAULT_ACCOUNTS = 10
T = TypeVar("T")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", "urls", multiple=True, metavar="URL",
              help="Base URL of a hub (http://host:port). Repeat for several hubs: scanners are spread "
                   "over them in turn.")
@click.option("--scanners", type=click.IntRange(min=1), default=10, show_default=True,
              help="Simulated scanners, each with a device id of its own and one websocket.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Scans per second in total, open loop (each scanner rate/N, latency counted from the "
                   "scheduled time). Omitted: as fast as acks allow.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds of scanning.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the result as JSON to this file.")
@click.option("--database-url", default=None, metavar="URL",
              help="PostgreSQL URL of the hubs' database: the run creates its own dispatcher accounts "
                   "there (unless --user is given) and checks every acked scan against it at the end.")
@click.option("--user", default=None, help="Use this existing account for every scanner instead.")
@click.option("--password", envvar="LOADTEST_PASSWORD", default=None,
              help="Password of --user (or set LOADTEST_PASSWORD).")
@click.option("--accounts", type=click.IntRange(min=1), default=None,
              help=f"Dispatcher accounts to create with --database-url [default: scanners, at most "
                   f"{DEFAULT_ACCOUNTS}].")
@click.option("--window", type=click.IntRange(min=1), default=8, show_default=True,
              help="Unacked operations per scanner at most; the hub's max_inflight caps it.")
@click.option("--drain", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds to wait for outstanding acks after --duration, before closing.")
@click.option("--echo", is_flag=True,
              help="Drive a bare websocket echo server instead of a hub (started here unless --url "
                   "names one): the websocket stack's own ceiling.")
@click.option("--dashboards", type=click.IntRange(min=0), default=0, show_default=True,
              help="Dashboards following the operators' areas, spread over the hubs like the scanners "
                   "(in two processes of their own): they measure the lag from a scan's ack to the delta "
                   "showing it, and with "
                   "--database-url their final counters are checked against PostgreSQL.")
@click.option("--held-dashboards", type=click.IntRange(min=0), default=0, show_default=True,
              help="Further dashboards, spread the same way after those, that read every frame and decode "
                   "nothing (in up to four processes of their own): load on the hubs that costs this "
                   "generator little; they time nothing and are not checked.")
@click.option("--timezone", default="UTC", show_default=True,
              help="The hubs' TIMEZONE setting: where the dashboards' day starts, for their check.")
def main(urls: tuple[str, ...], scanners: int, rate: float | None, duration: float, json_path: str | None,
         database_url: str | None, user: str | None, password: str | None, accounts: int | None,
         window: int, drain: float, echo: bool, dashboards: int, held_dashboards: int, timezone: str) -> None:
    """Drive simulated scanners over real websockets against TraceTrack hubs and measure them."""
    if echo and (dashboards or held_dashboards):
        raise click.UsageError("--dashboards and --held-dashboards need hubs: the echo server has no dashboards")
    if not echo:
        if not urls:
            raise click.UsageError("give at least one --url")
        if user is None and database_url is None:
            raise click.UsageError("give --database-url (accounts are created there) or --user and --password")
        if user is not None and password is None:
            raise click.UsageError("--user needs --password (or LOADTEST_PASSWORD)")
    options = runner.Options(
        urls=tuple(url.rstrip("/") for url in urls), scanners=scanners, rate=rate, duration=duration,
        window=window, drain=drain, database_url=database_url, user=user, password=password,
        accounts=accounts or min(scanners, DEFAULT_ACCOUNTS), echo=echo, dashboards=dashboards,
        timezone=timezone, held_dashboards=held_dashboards,
    )
    reporter = Reporter(Console(highlight=False))
    with contextlib.ExitStack() as stack:
        try:
            if echo and not urls:
                reporter.say("starting the echo server")
                options = dataclasses.replace(options, urls=(stack.enter_context(echo_server()),))
            result = run_event_loop(runner.run(options, reporter.say, reporter.progress))
        except (runner.RunFailed, AccountError, OSError, asyncpg.PostgresError) as exc:
            raise click.ClickException(str(exc)) from None
    reporter.summary(result)
    if json_path:
        with open(json_path, "w") as file:
            json.dump(result, file, indent=2)
    checks = [result["check"], result.get("dashboard_check")]
    if result["acked"] == 0 or any(check is not None and not check["ok"] for check in checks):
        raise SystemExit(1)


def run_event_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed: the load generator's own CPU time is part of the budget."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
        return loop.run(coro)
