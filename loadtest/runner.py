"""One load run: accounts and logins, connections, the timed scanning, the drain, the final checks.

Everything slow (creating accounts, argon2 logins, opening hundreds of websockets) happens before
the clock starts; every scanner then starts at the same instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from loadtest import accounts, check
from loadtest.connecting import connect_all
from loadtest.fleet import Fleet
from loadtest.holders import Held, Holders
from loadtest.pauses import no_full_collections
from loadtest.scanner import Ack, Scanner, Target
from loadtest.stats import Recorder, ms, percentile
from loadtest.workload import DEFAULT_FORMATS, ChildCodes, ParentCodes, Workflow

PROGRESS_SECONDS = 1.0
DASHBOARD_CATCH_UP = 10.0
"""Seconds the dashboards get, after the last ack, to show the last commit before they are checked."""


@dataclass(frozen=True)
class Options:
    urls: tuple[str, ...]
    scanners: int
    rate: float | None
    duration: float
    window: int
    drain: float
    database_url: str | None
    user: str | None
    password: str | None
    accounts: int
    echo: bool
    dashboards: int
    timezone: str
    fresh_parents: bool = True
    """False: parent codes are handed out whether or not the database holds them (seeded bags touched)."""
    held_dashboards: int = 0
    """Dashboards beside the `dashboards` that read every frame and decode nothing (loadtest/holders.py):
    the hubs serve them like any other, and the load generator spends next to nothing on them."""


Phase = Literal["start", "end"]
"""The timed window opens ("start", every scanner starts) and closes ("end", `duration` later)."""


def _ignore(phase: Phase) -> None:
    return None


class RunFailed(Exception):
    """The run could not start (no account, no connection); the message says why."""


def new_run_id() -> str:
    """Six characters of A-Z0-9 naming this run's devices, accounts and child codes."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(6))


async def run(options: Options, say: Callable[[str], None], progress: Callable[[dict[str, Any]], None],
              on_window: Callable[[Phase], None] = _ignore, on_ack: Callable[[Ack], None] | None = None
              ) -> dict[str, Any]:
    """Drive the scanners for `options.duration` seconds; the result that becomes the JSON.

    `on_window` is called as the timed window opens and as it closes (before the drain), so that a
    caller can read what the window cost, such as CPU time, at those instants. `on_ack` hears every
    ack too (a fault run times its recovery from them).
    """
    run_id = new_run_id()
    pool = None
    if options.database_url and not options.echo:
        pool = await asyncpg.create_pool(options.database_url, min_size=1, max_size=2)
    try:
        return await _run(options, run_id, pool, say, progress, on_window, on_ack)
    finally:
        if pool is not None:
            await pool.close()


async def _run(options: Options, run_id: str, pool: asyncpg.Pool | None, say: Callable[[str], None],
               progress: Callable[[dict[str, Any]], None], on_window: Callable[[Phase], None],
               extra: Callable[[Ack], None] | None) -> dict[str, Any]:
    sessions = await _sessions(options, pool, run_id, say)
    taken = await check.existing_parents(pool) if pool and options.fresh_parents else set()
    parents = ParentCodes(taken, random.Random())
    children = ChildCodes(f"L{run_id}")
    device_prefix = f"lt-{run_id.lower()}-"
    recorder, ledger = Recorder(), check.Ledger()
    timed = [sessions(n) for n in range(options.dashboards)]
    held = [Held("dashboard", sessions(options.dashboards + n)) for n in range(options.held_dashboards)]
    with (Fleet(timed, device_prefix) if timed else contextlib.nullcontext() as fleet,
          Holders(held) if held else contextlib.nullcontext() as holders):
        observers: list[Callable[[Ack], None]] = [recorder.on_ack, ledger.on_ack]
        if fleet is not None:
            observers.append(fleet.on_ack)
        if extra is not None:
            observers.append(extra)

        def on_ack(ack: Ack) -> None:
            for observer in observers:
                observer(ack)

        interval = options.scanners / options.rate if options.rate else None
        scanners = [Scanner(f"{device_prefix}{n:05d}", sessions(n), Workflow(parents, children),
                            window=options.window, interval=interval, on_ack=on_ack, on_error=recorder.on_error,
                            echo=options.echo)
                    for n in range(options.scanners)]
        say(f"run {run_id}: connecting {len(scanners)} scanners and {len(timed) + len(held)} dashboards "
            f"({len(timed)} timed, {len(held)} holding) to {len(options.urls)} "
            f"{'echo server' if options.echo else 'hub'}(s)")
        connected = await connect_all(scanners)
        if not connected:
            raise RunFailed(f"no scanner could connect: {dict(recorder.errors)}")
        watching = await fleet.start() if fleet is not None else 0
        holding = (await holders.start())[0] if holders is not None else 0
        parents.configure(DEFAULT_FORMATS if options.echo else connected[0].welcome["formats"])

        with no_full_collections():
            start = time.monotonic()
            end = start + options.duration
            recorder.begin(start, end)
            on_window("start")
            ticker = asyncio.create_task(_tick(recorder, scanners, progress))
            closer = asyncio.create_task(_close_window(end, on_window))
            try:
                await asyncio.gather(*(s.run(start, end, end + options.drain) for s in connected))
                await closer
            finally:
                ticker.cancel()
                closer.cancel()
        unacked = sum(s.outstanding for s in scanners)
        if recorder.untallied:  # the last, partial second
            progress(recorder.tick(time.monotonic(), unacked))
        if unacked:
            recorder.on_error("UNACKED", unacked)
        boards: dict[str, Any] = {} if fleet is None else await _dashboard_result(fleet, watching, recorder, pool,
                                                                  options.timezone, say)
        if holders is not None:
            boards["held_dashboards"] = holding
            for kind, count in (await holders.stop())[1].items():
                recorder.on_error(kind, count)
        result: dict[str, Any] = {
            "mode": "echo" if options.echo else "hub", "run_id": run_id, "urls": list(options.urls),
            "scanners": options.scanners, "connected": len(connected), "accounts": sessions.accounts,
            "rate": options.rate, "duration_s": options.duration, "window": connected[0].window,
            "sent": sum(s.sent for s in scanners), "unacked": unacked,
            **recorder.summary(options.duration),
            "lost": None, "duplicated": None, "check": None,
            "parents_used": parents.handed_out, "child_prefix": children.prefix,
            **boards,  # after the dashboards stopped, so that their errors are in the summary's
        }
    if pool is not None:
        say("checking every acked scan against PostgreSQL")
        result.update(await check.verify(pool, ledger, [s.device for s in scanners]))
    result["timeline"] = recorder.timeline
    return result


class _Sessions:
    """Who connects where: connection n goes to hub n mod H, as operator n mod A."""

    def __init__(self, hubs: tuple[str, ...], operators: list[accounts.Account],
                 tokens: dict[tuple[str, str], str]) -> None:
        self.hubs = hubs
        self.operators = operators
        self.tokens = tokens
        self.accounts = len(operators)

    def __call__(self, n: int) -> Target:
        hub = self.hubs[n % len(self.hubs)]
        if not self.operators:
            return Target(hub, None)
        return Target(hub, self.tokens[(hub, self.operators[n % len(self.operators)].username)])


async def _sessions(options: Options, pool: asyncpg.Pool | None, run_id: str,
                    say: Callable[[str], None]) -> _Sessions:
    """Log in every operator at every hub: created accounts, the given one, or none (echo)."""
    if options.echo:
        return _Sessions(options.urls, [], {})
    if options.user is not None:
        operators = [accounts.Account(options.user, options.password or "")]
    else:
        assert pool is not None
        say(f"creating {options.accounts} dispatcher accounts lt-{run_id.lower()}-NNNN")
        operators = await accounts.create_accounts(pool, run_id.lower(), options.accounts)
    say(f"logging in {len(operators)} account(s) at {len(options.urls)} hub(s)")
    return _Sessions(options.urls, operators, await accounts.login_all(list(options.urls), operators))


async def _close_window(end: float, on_window: Callable[[Phase], None]) -> None:
    await asyncio.sleep(end - time.monotonic())
    on_window("end")


async def _tick(recorder: Recorder, scanners: list[Scanner], progress: Callable[[dict[str, Any]], None]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        progress(recorder.tick(time.monotonic(), sum(s.outstanding for s in scanners)))


async def _dashboard_result(fleet: Fleet, watching: int, recorder: Recorder, pool: asyncpg.Pool | None,
                            timezone: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Ack-to-delta lag percentiles and, with a database, each dashboard's counters against SQL's
    as of the last commit, once every dashboard has shown it."""
    check_result = None
    scopes, day = await fleet.scopes()
    if pool is not None and day is not None:
        say("checking the dashboards' counters against PostgreSQL")
        seq, truth = await check.dashboard_truth(pool, scopes, day, timezone)
        checked = await fleet.check(seq, truth, DASHBOARD_CATCH_UP)
        check_result = {"ok": not checked["behind"] and not checked["mismatched"], "commit_seq": seq, **checked}
    ordered = sorted(await fleet.stop(recorder.on_error))
    return {
        "dashboards": watching, "dashboard_events": len(ordered),
        "dashboard_lag_p50_ms": ms(percentile(ordered, 0.50)),
        "dashboard_lag_p99_ms": ms(percentile(ordered, 0.99)),
        "dashboard_check": check_result,
    }
