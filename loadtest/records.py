"""`python -m loadtest records`: the read API's latency at scale, over HTTP, one request at a time.

What it measures, against one running hub:
- bag lookup (`GET /api/bags/{code}`) p50/p99, the codes drawn at random from the hub's database
  (`--database-url`, a table sample) or, without it, from the first pages of the bags list;
- for the bags, bills and scans lists: page 1 p50/p99, and page `--pages` (10,000 by default)
  p50/p99: the run walks that many pages once with the cursor to reach it (reporting the walk's
  pages per second), then fetches that page again and again. A list shorter than that is timed at its
  last page, and the table says which page that was.

Requests go one after another on one keep-alive connection, so each latency is the hub's answer time
plus one local round trip. The hub's per-address API rate limit must allow the walk: start the hub
with API_REQUESTS_PER_MINUTE raised (a 429 is waited out and counted, and the run says so).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import click
import httpx
from rich.console import Console
from rich.table import Table

from loadtest.accounts import Account, AccountError, login
from loadtest.stats import ms, percentile

LISTS = ("bags", "bills", "scans")
REQUEST_TIMEOUT = 60.0
SAMPLE_PAGES = 20


class BenchError(Exception):
    """The hub answered something a benchmark cannot go on from; the message says what."""


@dataclass
class Client:
    """An HTTP client logged in to the hub, timing every request and waiting out 429s."""

    http: httpx.AsyncClient
    url: str
    rate_limited: int = 0

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[float, Any]:
        """The seconds one GET took and its JSON body (a 429 is waited out and not timed)."""
        while True:
            start = time.perf_counter()
            response = await self.http.get(f"{self.url}{path}", params=params)
            took = time.perf_counter() - start
            if response.status_code != 429:
                break
            self.rate_limited += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
        return took, response.json()


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    def row(self) -> dict[str, Any]:
        ordered = sorted(self.seconds)
        return {"name": self.name, "requests": len(ordered), "p50_ms": ms(percentile(ordered, 0.5)),
                "p99_ms": ms(percentile(ordered, 0.99)), "max_ms": ms(ordered[-1]) if ordered else 0.0,
                "note": self.note}


async def sample_codes(client: Client, database_url: str | None, count: int) -> list[str]:
    """About `count` existing bag codes, in random order."""
    if database_url is None:
        codes: list[str] = []
        after = None
        for _ in range(SAMPLE_PAGES):
            _, body = await client.get("/api/bags", {"limit": "200", **({"after": after} if after else {})})
            codes += [bag["code"] for bag in body["bags"]]
            after = body["next"]
            if after is None:
                break
        return codes
    conn = await asyncpg.connect(database_url)
    try:
        total = await conn.fetchval("SELECT greatest(reltuples, 1) FROM pg_class WHERE relname = 'bags'")
        share = min(100.0, 100.0 * 3 * count / total)
        rows = await conn.fetch(f"SELECT code FROM bags TABLESAMPLE SYSTEM ({share:.6f}) ORDER BY random() LIMIT $1",
                                count)
    finally:
        await conn.close()
    return [row["code"] for row in rows]


async def time_lookups(client: Client, codes: list[str], requests: int) -> Timing:
    timing = Timing("bag lookup")
    if not codes:
        timing.note = "no bags"
        return timing
    for n in range(requests):
        took, _ = await client.get(f"/api/bags/{codes[n % len(codes)]}")
        timing.seconds.append(took)
    return timing


async def time_list(client: Client, name: str, pages: int, requests: int,
                    limit: int) -> tuple[Timing, Timing, dict[str, Any]]:
    """Page 1 timed `requests` times; then the walk to page `pages`, which is timed `requests` times."""
    path, first = f"/api/{name}", Timing(f"{name} page 1")
    for _ in range(requests):
        took, body = await client.get(path, {"limit": str(limit)})
        first.seconds.append(took)
    page, after, walked = 1, body["next"], 0.0
    params = {"limit": str(limit)}
    while after is not None and page < pages:
        took, body = await client.get(path, {"limit": str(limit), "after": after})
        walked += took
        page += 1
        params = {"limit": str(limit), "after": after}
        after = body["next"]
    deep = Timing(f"{name} page {page:,}", note="" if page == pages else f"the last page (asked for {pages:,})")
    for _ in range(requests):
        took, _ = await client.get(path, params)
        deep.seconds.append(took)
    walk = {"list": name, "pages": page, "walk_s": round(walked, 2),
            "walk_pages_per_s": round((page - 1) / walked, 1) if walked else None}
    return first, deep, walk


async def run(url: str, username: str, password: str, requests: int, pages: int, limit: int,
              database_url: str | None, lists: tuple[str, ...], console: Console) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        token = await login(http, url, Account(username, password))
        http.cookies.clear()
        http.headers["cookie"] = f"tt_session={token}"
        client = Client(http, url)
        console.print(f"sampling bag codes ({'database' if database_url else 'bags list'})")
        codes = await sample_codes(client, database_url, requests)
        timings = [await time_lookups(client, codes, requests)]
        walks = []
        for name in lists:
            console.print(f"{name}: page 1, then the walk to page {pages:,}")
            first, deep, walk = await time_list(client, name, pages, requests, limit)
            timings += [first, deep]
            walks.append(walk)
    return {"url": url, "requests": requests, "limit": limit, "timings": [t.row() for t in timings],
            "walks": walks, "rate_limited": client.rate_limited}


def show(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Read API, {result['requests']} requests each, {result['limit']} rows a page")
    for column in ("what", "requests", "p50 ms", "p99 ms", "max ms", "note"):
        table.add_column(column, justify="left" if column in ("what", "note") else "right")
    for row in result["timings"]:
        table.add_row(row["name"], str(row["requests"]), f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}",
                      f"{row['max_ms']:.2f}", row["note"])
    console.print(table)
    for walk in result["walks"]:
        console.print(f"walk of {walk['list']}: {walk['pages']:,} pages in {walk['walk_s']} s "
                      f"({walk['walk_pages_per_s']} pages/s)")
    if result["rate_limited"]:
        console.print(f"[yellow]{result['rate_limited']} answers were 429 (waited out, not timed): "
                      "raise API_REQUESTS_PER_MINUTE on the hub[/yellow]")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", required=True, metavar="URL", help="Base URL of the hub (http://host:port).")
@click.option("--username", required=True, help="The account to read with (an admin sees every area).")
@click.option("--password", envvar="LOADTEST_PASSWORD", required=True, help="Its password (or LOADTEST_PASSWORD).")
@click.option("--requests", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Timed requests per measurement.")
@click.option("--pages", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="The deep page to time: the run walks this many pages of each list to reach it.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="Rows per page.")
@click.option("--database-url", default=None, metavar="URL",
              help="The hub's database, read only: random existing bag codes to look up are sampled there.")
@click.option("--list", "lists", multiple=True, type=click.Choice(LISTS), help="Only these lists [default: all].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the result as JSON to this file.")
def main(url: str, username: str, password: str, requests: int, pages: int, limit: int, database_url: str | None,
         lists: tuple[str, ...], json_path: str | None) -> None:
    """Time bag lookups and list pages (page 1 and a deep page) of a running hub."""
    console = Console()
    try:
        result = asyncio.run(run(url.rstrip("/"), username, password, requests, pages, limit, database_url,
                                 lists or LISTS, console))
    except (AccountError, BenchError, httpx.HTTPError, OSError, asyncpg.PostgresError) as exc:
        raise click.ClickException(str(exc) or repr(exc)) from None
    show(console, result)
    if json_path is not None:
        with open(json_path, "w") as out:
            json.dump(result, out, indent=2)
