"""`python -m loadtest history`: the partitioned scans log after a first week and after a year.

A database of its own (on the server of `--database-url`) is migrated, given the monthly partitions
of a year ending now, and filled straight in SQL (generate_series, not through the hub) with
`--rows` scans spread evenly over those 365 days: first the first week's share, then the rest. After
each fill the same operations are timed, with the hub's own store functions and connection settings:

- insert: the writer's batch statement (`hub.store.batches.write_batch`) with a batch of 50 scans,
  committed, dated at the end of the history filled so far;
- a bag's history (`hub.store.bags.history`): a parent named as the target of 30 child scans;
- scans list pages of 50 (`hub.store.scans.list_scans`): the first page; a deep page (after a cursor
  drawn at random over the history filled so far); the first and a deep page of one area; the first
  page of one device.

Each is timed `--repeat` times one after another on one connection; p50 and p99. Rows: 10,000
devices in 10 areas, each device's seq counting up; 3 % of the scans rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import click

from hub.database import create_pool
from hub.domain.filters import ScanFilter
from hub.migrate import migrate
from hub.partitions import month_of, next_month
from hub.store import bags as bags_store
from hub.store import batches
from hub.store import partitions as partitions_store
from hub.store.scans import list_scans
from loadtest import machine, sections
from loadtest.stats import ms, percentile

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEVICES = 10_000
AREAS = ("lucknow", "kanpur", "agra", "varanasi", "delhi", "jaipur", "indore", "bhopal", "patna", "ranchi")
YEAR = timedelta(days=365)
WEEK = timedelta(days=7)
CHUNK = 1_000_000
"""Rows per INSERT of the fill."""
PAGE = 50
BATCH = 50
CHILDREN_PER_PARENT = 30

# Row i of N: at START + i/N of the year, from device i % DEVICES (seq i / DEVICES + 1, so each
# device counts up), a child scan into parent i / 30, rejected when i % 33 = 0.
_FILL = f"""
    INSERT INTO scans (device_id, seq, area, op, code, target, result, server_time)
    SELECT 'dev-' || (i % {DEVICES}), i / {DEVICES} + 1, (ARRAY{list(AREAS)})[(i % {DEVICES}) % 10 + 1], 'child',
           'C' || lpad(i::text, 10, '0'), 'SB' || lpad((i / {CHILDREN_PER_PARENT})::text, 9, '0'),
           CASE WHEN i % 33 = 0 THEN 'ALREADY_IN_PARENT' ELSE 'OK' END,
           $3::timestamptz + (i::float8 / $4) * interval '365 days'
      FROM generate_series($1::bigint, $2::bigint - 1) AS i"""


async def _fill(conn: asyncpg.Connection, start: datetime, first: int, end: int, total: int) -> float:
    """Rows first..end-1 of `total`, in chunks; the seconds it took (with ANALYZE)."""
    began = time.perf_counter()
    for low in range(first, end, CHUNK):
        await conn.execute(_FILL, low, min(end, low + CHUNK), start, total, timeout=None)
        click.echo(f"  filled {min(end, low + CHUNK):,} of {total:,} rows "
                   f"({time.perf_counter() - began:.0f} s)", err=True)
    # Measured as the hub would meet the history: vacuumed and analysed (as autovacuum leaves it),
    # and with the fill's WAL checkpointed, not being written out under the timings.
    await conn.execute("VACUUM (ANALYZE) scans", timeout=None)
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT", timeout=None)
    return time.perf_counter() - began


def _at(start: datetime, row: int, total: int) -> datetime:
    return start + YEAR * (row / total)


async def _timed(repeat: int, work: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    """p50 and p99 of `repeat` runs of `work`, after a tenth as many untimed (caches warmed alike in
    both phases)."""
    for n in range(repeat // 10):
        await work(-1 - n)
    seconds = []
    for n in range(repeat):
        began = time.perf_counter()
        await work(n)
        seconds.append(time.perf_counter() - began)
    seconds.sort()
    return {"p50_ms": ms(percentile(seconds, 0.5)), "p99_ms": ms(percentile(seconds, 0.99))}


async def _measure(pool: asyncpg.Pool, writer: asyncpg.Pool, start: datetime, filled: int, total: int,
                   repeat: int, rng: random.Random) -> dict[str, dict[str, float]]:
    """Time every operation against the history of rows 0..filled-1."""
    end = _at(start, filled, total)
    seq = iter(range(10**9, 2 * 10**9))

    async def insert(n: int) -> None:
        device = f"bench-{uuid.uuid4().hex[:8]}"
        scans = [(device, next(seq), None, AREAS[0], "child", f"B{n}-{k}", "SB1", "OK", None, None)
                 for k in range(BATCH)]
        async with writer.acquire() as conn, conn.transaction():
            await batches.write_batch(conn, [], [], [], scans, {device: (scans[-1][1], None)}, {}, [],
                                      end + timedelta(microseconds=n), sequence=True)

    def parent(_: int) -> str:
        return f"SB{rng.randrange(filled // CHILDREN_PER_PARENT):09d}"

    def cursor() -> tuple[datetime, int]:
        return (_at(start, rng.randrange(filled), total), 2**62)

    async with pool.acquire() as conn:
        return {
            "insert a batch of 50 scans": await _timed(repeat, insert),
            "a bag's history": await _timed(repeat, lambda n: bags_store.history(conn, parent(n), None)),
            "first page": await _timed(repeat, lambda _: list_scans(conn, ScanFilter(), None, PAGE)),
            "deep page": await _timed(repeat, lambda _: list_scans(conn, ScanFilter(), cursor(), PAGE)),
            "first page of an area": await _timed(
                repeat, lambda n: list_scans(conn, ScanFilter(area=AREAS[n % 10]), None, PAGE)),
            "deep page of an area": await _timed(
                repeat, lambda n: list_scans(conn, ScanFilter(area=AREAS[n % 10]), cursor(), PAGE)),
            "first page of a device": await _timed(
                repeat, lambda _: list_scans(conn, ScanFilter(device=f"dev-{rng.randrange(DEVICES)}"), None, PAGE)),
        }


async def run(admin_url: str, rows: int, repeat: int, keep: bool) -> dict[str, Any]:
    name = f"history_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        now = datetime.now(UTC)
        start = now - YEAR
        week = max(1, round(rows * (WEEK / YEAR)))
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            month, months = month_of(start), []
            while month <= next_month(month_of(now)):
                months.append(month)
                month = next_month(month)
            await partitions_store.add_months(conn, months)
            pool = await create_pool(url, 2)
            writer = await create_pool(url, 1, settings={"plan_cache_mode": "auto"})
            rng = random.Random(11)
            try:
                click.echo(f"first week: {week:,} rows", err=True)
                fill_week = await _fill(conn, start, 0, week, rows)
                first = await _measure(pool, writer, start, week, rows, repeat, rng)
                load_week = os.getloadavg()[0]
                click.echo(f"the rest of the year: {rows - week:,} rows", err=True)
                fill_year = await _fill(conn, start, week, rows, rows)
                year = await _measure(pool, writer, start, rows, rows, repeat, rng)
                load_year = os.getloadavg()[0]
            finally:
                await pool.close()
                await writer.close()
            size = await conn.fetchval(
                """SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
                    WHERE inhparent = 'scans'::regclass""")
        finally:
            await conn.close()
        return {"rows": rows, "week_rows": week, "partitions": len(months) + 1, "repeat": repeat,
                "fill_seconds": round(fill_week + fill_year, 1), "size_gib": round(size / 2**30, 2),
                "first_week": first, "after_year": year, "load": [round(load_week, 1), round(load_year, 1)],
                "database": name, "kept": keep}
    finally:
        if not keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def render(result: dict[str, Any], machine_info: dict[str, Any], command: str) -> str:
    """The report's section: the machine, the figures, the command."""
    lines = [
        "## Scans history: a year in monthly partitions",
        "",
        f"Measured with {result['rows']:,} scans over 12 months ({result['partitions']} partitions with the "
        f"default; {result['size_gib']} GiB with indexes; filled in {result['fill_seconds']} s)"
        + ("." if result["rows"] >= 100_000_000 else
           f", not the 100 million of issue 11: {result['rows'] / 1e6:g} million is what this machine "
           "fills and measures in a few minutes."),
        f"First week: after its {result['week_rows']:,} rows; after the year: after all of them. "
        f"Each operation {result['repeat']} times in a row on one connection (after a tenth as many "
        "untimed), the table vacuumed, analysed and checkpointed after each fill. The machine's load "
        f"average (1 min) as each phase's timings ended: {result['load'][0]} and {result['load'][1]} "
        f"(on {machine_info['cores']} cores shared with other work).",
        "",
        "| operation | first week p50 / p99 ms | after the year p50 / p99 ms |",
        "|---|---|---|",
    ]
    for name, first in result["first_week"].items():
        year = result["after_year"][name]
        lines.append(f"| {name} | {first['p50_ms']} / {first['p99_ms']} | {year['p50_ms']} / {year['p99_ms']} |")
    lines += [
        "",
        f"Machine: {machine_info['cpu']}, {machine_info['cores']} cores, {machine_info['ram_gib']} GiB RAM, "
        f"PostgreSQL {machine_info['postgresql']}, Python {machine_info['python']}.",
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--rows", type=click.IntRange(min=10_000), default=10_000_000, show_default=True,
              help="Scans over the year.")
@click.option("--repeat", type=click.IntRange(min=1), default=200, show_default=True,
              help="Times each operation is timed, per phase.")
@click.option("--database-url", default=DEFAULT_DATABASE, show_default=True, metavar="URL",
              help="A PostgreSQL server's database to create the benchmark's own database from.")
@click.option("--redis-url", default=DEFAULT_REDIS, show_default=True, metavar="URL",
              help="Only to report the Redis version with the machine.")
@click.option("--keep", is_flag=True, help="Keep the benchmark's database afterwards.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), default="docs/benchmarks.md",
              show_default=True, help="Report whose `history` section is written.")
def main(rows: int, repeat: int, database_url: str, redis_url: str, keep: bool, markdown_path: str) -> None:
    """Fill a year of scans into the partitioned table and time inserts, lookups and lists."""
    result = asyncio.run(run(database_url, rows, repeat, keep))
    command = f"python -m loadtest history --rows {rows} --repeat {repeat}"
    markdown = render(result, machine.describe(database_url, redis_url), command)
    sections.write(markdown_path, "history", markdown)
    click.echo(markdown)
