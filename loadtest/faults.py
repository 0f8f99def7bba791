"""Faults under steady load: a hub killed, PostgreSQL and Redis restarted, every connection dropped
at once, PostgreSQL's connections exhausted. `python -m loadtest faults` and the tests' `faults`
group run the same scenarios, at two sizes of load (`BENCHMARK`, `TESTS`).

Each scenario gets a fresh database on a private PostgreSQL cluster and a private Redis (see
loadtest.servers), its hub processes, and a load run (loadtest.runner: scanners at a steady rate,
dashboards). The fault comes after `before` seconds of scanning; when it has ended, the load goes
on for `after` seconds, then drains. From the acks it measures the recovery: fault end -> first
final ack, and -> every scanner acked again; from the run, the worst ack latency (an operation
answered RETRY while the database was down counts from when it was due until its final ack); then
every acked scan is checked against PostgreSQL (lost, duplicated, wrong result), the parents'
invariants, the dashboards against SQL's counts, and that every hub is the process it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import click
import httpx

from loadtest import accounts, check, runner, sections
from loadtest.cli import run_event_loop
from loadtest.hubs import Hub, fresh_database, hub_env, hub_process
from loadtest.machine import LABELS, describe
from loadtest.proxy import DropProxy, drop_proxy
from loadtest.scanner import Ack, Target
from loadtest.servers import PostgresCluster, RedisProcess, postgres_cluster, start_redis
from loadtest.storm import Storm

BACK_WITHIN = 5.0
"""Seconds after a fault's end by which every scanner must have been acked again (issue 11)."""
MAX_CONNECTIONS = 60
"""The private cluster's `max_connections`: room for two hubs' pools, small enough to exhaust."""
STORM_ACCOUNTS = 4
"""Accounts the idle scanners of a storm log in as (a hub takes MAX_CONNECTIONS_PER_USER each)."""
HUB_SETTINGS = {"MAX_CONNECTIONS_PER_USER": "10000"}
DRAIN = 15.0
HOGS_AT_ONCE = 8
STORM_WAIT = 30.0


@dataclass(frozen=True)
class Load:
    """How hard a fault run pushes: scanners at `rate` scans/s in all, `dashboards` following them,
    `idle` more connected scanners for the reconnect storm; `outage` seconds a stopped server stays
    down; `before` and `after` seconds of scanning around the fault."""

    scanners: int
    rate: float
    dashboards: int
    idle: int
    outage: float
    before: float
    after: float


TESTS = Load(scanners=24, rate=240, dashboards=2, idle=2000, outage=1.0, before=1.5, after=3.0)
BENCHMARK = Load(scanners=100, rate=800, dashboards=10, idle=4000, outage=3.0, before=4.0, after=8.0)


@dataclass
class Servers:
    cluster: PostgresCluster
    redis: RedisProcess


@contextlib.contextmanager
def private_servers() -> Iterator[Servers]:
    """The run's own PostgreSQL cluster and Redis, which its faults stop and starve."""
    with postgres_cluster(max_connections=str(MAX_CONNECTIONS)) as cluster, start_redis() as redis:
        yield Servers(cluster, redis)


@dataclass
class Stage:
    """What one scenario runs on, which its fault acts on."""

    servers: Servers
    load: Load
    database_url: str
    env: dict[str, str]
    stack: contextlib.ExitStack
    hubs: list[Hub]
    proxy: DropProxy | None = None
    replaced: dict[int, int] = field(default_factory=dict)
    """pid of a hub the fault killed -> pid of the process started on its port in its place."""

    def restart(self, index: int) -> None:
        """A new hub process on the port of hub `index`, as its supervisor would start one."""
        old = self.hubs[index]
        self.hubs[index] = self.stack.enter_context(hub_process(self.env, _port(old)))
        self.replaced[old.pid] = self.hubs[index].pid


def _port(hub: Hub) -> int:
    return int(hub.url.rsplit(":", 1)[1])


Inject = Callable[[Stage], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Fault:
    name: str
    title: str
    inject: Inject
    """Makes the fault happen and returns once it has ended; figures of its own."""
    budget: float
    """Seconds the fault itself may take at most, beyond `Load.outage`: the load lasts long enough."""
    hubs: int = 2
    storm: bool = False


async def kill_a_hub(stage: Stage) -> dict[str, Any]:
    """SIGKILL of the first hub; its supervisor starts a new one on the same port, and its scanners
    (and dashboards) reconnect to it and resend their outboxes. The other hub serves on throughout."""
    os.kill(stage.hubs[0].pid, signal.SIGKILL)
    killed = time.monotonic()
    await asyncio.sleep(stage.load.outage)
    await asyncio.to_thread(stage.restart, 0)
    return {"hub_down_s": round(time.monotonic() - killed, 2)}


async def restart_postgres(stage: Stage) -> dict[str, Any]:
    """A fast shutdown of PostgreSQL (every session ended), `outage` seconds down, started again."""
    await asyncio.to_thread(stage.servers.cluster.stop, "fast")
    await asyncio.sleep(stage.load.outage)
    await asyncio.to_thread(stage.servers.cluster.start)
    return {}


async def restart_redis(stage: Stage) -> dict[str, Any]:
    """Redis stopped, `outage` seconds down, started again on the same port (empty)."""
    await asyncio.to_thread(stage.servers.redis.stop)
    await asyncio.sleep(stage.load.outage)
    await asyncio.to_thread(stage.servers.redis.start)
    return {}


async def drop_every_connection(stage: Stage) -> dict[str, Any]:
    """Every connection through the proxy in front of the hub reset in the same instant."""
    assert stage.proxy is not None
    return {"dropped": await asyncio.to_thread(stage.proxy.drop)}


async def exhaust_connections(stage: Stage) -> dict[str, Any]:
    """Others take every connection slot PostgreSQL has, and the hubs' own sessions are ended (as
    after a failover, or by an administrator): for `outage` seconds the hubs can open none. Then the
    others let go."""
    cluster = stage.servers.cluster
    hogs: list[asyncpg.Connection] = []

    async def fill() -> None:
        """Connect, a few at a time, until PostgreSQL says it has no slot left."""
        while True:
            opened = await asyncio.gather(*(asyncpg.connect(cluster.url(), timeout=10) for _ in range(HOGS_AT_ONCE)),
                                          return_exceptions=True)
            hogs.extend(conn for conn in opened if isinstance(conn, asyncpg.Connection))
            failed = [exc for exc in opened if isinstance(exc, BaseException)]
            if any(isinstance(exc, asyncpg.TooManyConnectionsError) for exc in failed):
                return
            if failed:
                raise failed[0]

    try:
        await fill()
        for _ in range(20):  # a hub may win a slot freed here before a hog does: end it again
            pids = [hog.get_server_pid() for hog in hogs]
            ended = await hogs[0].fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE backend_type = 'client backend' AND pid <> ALL($1::int[])""", pids)
            if not ended:
                break
            await asyncio.sleep(0.05)
            await fill()
        held = len(hogs)
        await asyncio.sleep(stage.load.outage)
    finally:
        await asyncio.gather(*(hog.close() for hog in hogs), return_exceptions=True)
    return {"slots_taken": held}


FAULTS = (
    Fault("kill-9", "`kill -9` of one of two hubs (a new one on its port)", kill_a_hub, budget=8.0),
    Fault("postgres-restart", "PostgreSQL restarted (fast shutdown)", restart_postgres, budget=3.0),
    Fault("redis-restart", "Redis restarted", restart_redis, budget=2.0),
    Fault("reconnect-storm", "every connection to one hub dropped at once", drop_every_connection,
          budget=1.0, hubs=1, storm=True),
    Fault("postgres-connections", "PostgreSQL's `max_connections` taken by others", exhaust_connections,
          budget=3.0),
)
NAMES = tuple(fault.name for fault in FAULTS)


class Recovery:
    """Every final ack's time and device, to time the recovery from."""

    def __init__(self) -> None:
        self.acks: list[tuple[float, str]] = []

    def on_ack(self, ack: Ack) -> None:
        if not ack.retry:
            self.acks.append((ack.at, ack.device))

    def figures(self, began: float, ended: float) -> dict[str, Any]:
        """Seconds from the fault's end to the first final ack, and until every scanner that was
        acked before the fault was acked again (None: one never was); the longest silence."""
        devices = {device for at, device in self.acks if at < began}
        back: dict[str, float] = {}
        for at, device in self.acks:
            if at >= ended and device not in back:
                back[device] = at
        times = sorted(at for at, _ in self.acks)
        silence = max((b - a for a, b in zip(times, times[1:]) if b > began - 1), default=0.0)
        return {
            "scanners_before": len(devices),
            "first_ack_s": round(min(back.values()) - ended, 3) if back else None,
            "all_back_s": round(max(back[d] for d in devices) - ended, 3) if devices <= back.keys() else None,
            "not_back": sorted(devices - back.keys()),
            "longest_silence_s": round(silence, 3),
        }


def _quiet(message: str) -> None:
    return None


def run_fault(fault: Fault, load: Load, servers: Servers, say: Callable[[str], None] = _quiet) -> dict[str, Any]:
    """One scenario, from a fresh database to its checks; its figures (`problems` judges them)."""
    name = f"tracetrack_fault_{fault.name.replace('-', '_')}_{os.getpid()}_{runner.new_run_id().lower()}"
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_database(servers.cluster.url(), name, keep=False))
        prefix = f"tracetrack-fault-{name}"
        # One deployment: its hubs (and a replacement of one) share their secrets, so a login holds on each.
        env = {**hub_env(database_url, servers.redis.url, prefix), **HUB_SETTINGS,
               "SESSION_SECRET": secrets.token_urlsafe(32), "ADMIN_PASSWORD": secrets.token_urlsafe(18)}
        say(f"{fault.name}: starting {fault.hubs} hub(s)")
        hubs = [stack.enter_context(hub_process(env)) for _ in range(fault.hubs)]
        stage = Stage(servers, load, database_url, env, stack, hubs)
        if fault.storm:
            stage.proxy = stack.enter_context(drop_proxy(("127.0.0.1", _port(hubs[0]))))
        result = run_event_loop(_under_load(fault, stage, say))
    return result


async def _under_load(fault: Fault, stage: Stage, say: Callable[[str], None]) -> dict[str, Any]:
    load = stage.load
    urls = (stage.proxy.url,) if stage.proxy is not None else tuple(hub.url for hub in stage.hubs)
    options = runner.Options(
        urls=urls, scanners=load.scanners, rate=load.rate,
        duration=load.before + load.outage + fault.budget + load.after,
        window=8, drain=DRAIN, database_url=stage.database_url, user=None, password=None,
        accounts=min(load.scanners, 4), echo=False, dashboards=load.dashboards, timezone="UTC")
    pids = [hub.pid for hub in stage.hubs]
    recovery = Recovery()
    opened = asyncio.Event()
    with contextlib.ExitStack() as stack:
        storm = None
        if fault.storm:
            storm = stack.enter_context(Storm(await _storm_targets(stage, urls[0]), f"idle-{fault.name}-"))
            say(f"{fault.name}: connecting {load.idle} idle scanners")
            idle = await storm.start()
            if idle < load.idle:
                raise RuntimeError(f"only {idle} of {load.idle} idle scanners connected")

        def on_window(phase: runner.Phase) -> None:
            if phase == "start":
                opened.set()

        load_run = asyncio.create_task(runner.run(options, say, lambda point: None, on_window, recovery.on_ack))
        await asyncio.wait([load_run, asyncio.create_task(opened.wait())], return_when=asyncio.FIRST_COMPLETED)
        if load_run.done():
            load_run.result()
            raise RuntimeError("the load run ended before its window opened")
        await asyncio.sleep(load.before)
        say(f"{fault.name}: the fault")
        began = time.monotonic()
        figures = await fault.inject(stage)
        ended = time.monotonic()
        say(f"{fault.name}: fault over after {ended - began:.2f} s; load goes on")
        result = await load_run
        if storm is not None:
            figures.update(await _storm_back(storm, began, load.idle))
            await storm.stop()
    async with asyncpg.create_pool(stage.database_url, min_size=1, max_size=2) as pool:
        broken = await check.broken_parents(pool)
    alive = await asyncio.gather(*(_serving(hub) for hub in stage.hubs))
    dashboards = result.get("dashboard_check") or {}
    return {
        "fault": fault.name, "title": fault.title, "outage_s": round(ended - began, 3),
        **recovery.figures(began, ended), **figures,
        "worst_ack_ms": result["ack_max_ms"], "ack_p99_ms": result["ack_p99_ms"],
        "acked": result["acked"], "lost": result["lost"], "duplicated": result["duplicated"],
        "check": result["check"], "unacked": result["unacked"], "errors": result["errors"],
        "broken_parents": broken, "dashboards": result.get("dashboards", 0), "dashboards_ok": dashboards.get("ok"),
        "dashboard_check": dashboards,
        "hubs_same": [stage.replaced.get(pid, pid) for pid in pids] == [hub.pid for hub in stage.hubs]
                     and all(alive),
        "window_after_fault_s": round(options.duration - (ended - began) - load.before, 2),
    }


async def _storm_targets(stage: Stage, url: str) -> list[Target]:
    """The idle scanners' logins, through the proxy: a few accounts, taken in turn."""
    async with asyncpg.create_pool(stage.database_url, min_size=1, max_size=2) as pool:
        made = await accounts.create_accounts(pool, f"idle{runner.new_run_id().lower()}", STORM_ACCOUNTS)
    tokens = await accounts.login_all([url], made)
    return [Target(url, tokens[(url, made[n % len(made)].username)]) for n in range(stage.load.idle)]


async def _storm_back(storm: Storm, began: float, idle: int) -> dict[str, Any]:
    """How long the idle scanners took to be welcomed back, every one of them (waited for, up to
    STORM_WAIT seconds after the load run)."""
    deadline = time.monotonic() + STORM_WAIT
    while True:
        answer = await storm.returns()
        back = [returned - dropped for dropped, returned in answer["returns"] if dropped >= began]
        if len(back) >= idle or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    return {"idle_scanners": idle, "idle_back": len(back), "idle_connected_at_end": answer["connected"],
            "idle_all_back_s": round(max(back), 3) if len(back) >= idle else None,
            "idle_errors": answer["errors"]}


async def _serving(hub: Hub) -> bool:
    """The hub's process is alive and ready."""
    try:
        os.kill(hub.pid, 0)
    except OSError:
        return False
    async with httpx.AsyncClient(timeout=5) as client:
        with contextlib.suppress(httpx.HTTPError):
            return (await client.get(f"{hub.url}/ready")).status_code == 200
    return False


def problems(result: dict[str, Any]) -> list[str]:
    """What went wrong in a fault run (empty: it passed every check)."""
    found = []
    if result["lost"] or result["duplicated"] or not result["check"]["ok"]:
        found.append(f"acked scans not stored exactly once with their result: {result['check']} "
                     f"(lost {result['lost']}, duplicated {result['duplicated']})")
    if result["broken_parents"]:
        found.append(f"parents breaking the invariants: {result['broken_parents'][:5]}")
    if result["unacked"]:
        found.append(f"{result['unacked']} operations never acked")
    if result["dashboards"] and not result["dashboards_ok"]:
        found.append(f"dashboards differ from SQL: {result['dashboard_check']}")
    if result["all_back_s"] is None or result["all_back_s"] > BACK_WITHIN:
        found.append(f"scanners not all acked within {BACK_WITHIN:g} s of the fault's end: "
                     f"{result['all_back_s']} s, never: {result['not_back'][:5]}")
    if result["scanners_before"] == 0:
        found.append("no scanner was acked before the fault")
    if not result["hubs_same"]:
        found.append("a hub is not the process it was (or does not answer /ready)")
    if "idle_scanners" in result and result["idle_all_back_s"] is None:
        found.append(f"only {result['idle_back']} of {result['idle_scanners']} idle scanners came back: "
                     f"{result['idle_errors']}")
    return found


def render(results: list[dict[str, Any]], machine: dict[str, Any], command: str, load: Load) -> str:
    """The report's section: the machine, the command, one row per fault."""
    lines = ["## Faults under load", "",
             f"`{command}`: each fault under steady load ({load.scanners} scanners at {load.rate:g} scans/s in all, "
             f"{load.dashboards} dashboards, {load.outage:g} s of outage where a server is stopped; the reconnect "
             f"storm also has {load.idle} idle scanners connected, in worker processes of lower CPU priority), "
             "each on a fresh database of a private PostgreSQL cluster and a private Redis. *First ack* and "
             "*all back*: seconds from the fault's end to the first final ack, and until every scanner was acked "
             "again. *Worst ack*: the slowest operation, from when it was due to its final ack (a RETRY while the "
             "database was away included).",
             "", "| | |", "|---|---|"]
    lines += [f"| {label} | {machine[key]} |" for key, label in LABELS if key in machine]
    lines += ["", "| fault | outage s | first ack s | all back s | worst ack ms | p99 ms | acked | lost | duplicated "
              "| dashboards = SQL | same hubs | notes |", "|---|" + "---:|" * 8 + "---|---|---|"]
    for r in results:
        notes = []
        if "idle_scanners" in r:
            notes.append(f"{r['dropped']} connections dropped; {r['idle_back']}/{r['idle_scanners']} idle scanners "
                         f"back in {r['idle_all_back_s']} s")
        if "hub_down_s" in r:
            notes.append(f"hub down {r['hub_down_s']} s until its replacement was ready")
        if "slots_taken" in r:
            notes.append(f"{r['slots_taken']} connections held by others")
        if problems(r):
            notes.append("FAILED: " + "; ".join(problems(r)))
        lines.append(f"| {r['title']} | {r['outage_s']} | {r['first_ack_s']} | {r['all_back_s']} | "
                     f"{r['worst_ack_ms']:.0f} | {r['ack_p99_ms']:.0f} | {r['acked']} | {r['lost']} | "
                     f"{r['duplicated']} | {'yes' if r['dashboards_ok'] else 'no'} | "
                     f"{'yes' if r['hubs_same'] else 'no'} | {'; '.join(notes)} |")
    return "\n".join(lines) + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--only", multiple=True, type=click.Choice(NAMES), help="Run only this fault (repeatable).")
@click.option("--scanners", type=click.IntRange(min=1), default=BENCHMARK.scanners, show_default=True)
@click.option("--rate", type=click.FloatRange(min=1), default=BENCHMARK.rate, show_default=True,
              help="Scans per second in all, open loop.")
@click.option("--idle", type=click.IntRange(min=1), default=BENCHMARK.idle, show_default=True,
              help="Idle scanners connected for the reconnect storm.")
@click.option("--report", default="docs/benchmarks.md", show_default=True,
              help="Write the table into this report's `faults` section ('' for none).")
def main(only: tuple[str, ...], scanners: int, rate: float, idle: int, report: str) -> None:
    """Run each fault under load and report its recovery, worst ack and acked/lost/duplicated."""
    load = replace(BENCHMARK, scanners=scanners, rate=rate, idle=idle)
    chosen = [fault for fault in FAULTS if not only or fault.name in only]
    raise_open_files()
    # The run's own pool tries to reconnect while PostgreSQL is away by design: no traceback for that.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
    results = []
    with private_servers() as servers:
        machine = describe(servers.cluster.url(), servers.redis.url)
        for fault in chosen:
            result = run_fault(fault, load, servers, click.echo)
            click.echo(f"{fault.name}: outage {result['outage_s']} s, first ack {result['first_ack_s']} s, all back "
                       f"{result['all_back_s']} s, worst ack {result['worst_ack_ms']:.0f} ms, acked {result['acked']}, "
                       f"lost {result['lost']}, duplicated {result['duplicated']}")
            for problem in problems(result):
                click.echo(f"  FAILED: {problem}")
            results.append(result)
    command = "python -m loadtest faults" + "".join(f" --only {name}" for name in only)
    if report:
        sections.write(report, "faults", render(results, machine, command, load))
        click.echo(f"wrote the faults section of {report}")
    if any(problems(result) for result in results):
        raise SystemExit(1)


def raise_open_files() -> None:
    """Thousands of sockets (and the hubs, children of this process, inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
