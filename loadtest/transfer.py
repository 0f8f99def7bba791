"""`python -m loadtest transfer`: export rows/s and the hub's peak RSS meanwhile, and import rows/s.

The export is a full CSV export of a dataset (bags by default) read to its end; with `--hub-pid`
the hub process's VmRSS is sampled from /proc during it, and its VmHWM (peak) read after. The
import is a generated CSV file of `--rows` child-parent rows (new children into new or existing
parents), imported row by row; its time runs from the upload to the final summary line.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import click
import httpx

SAMPLE_SECONDS = 0.2
TIMEOUT = httpx.Timeout(30.0, read=600.0)


def _status_kb(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def _sample_rss(pid: int, peak: list[int]) -> None:
    while True:
        rss = _status_kb(pid, "VmRSS")
        if rss is not None:
            peak[0] = max(peak[0], rss)
        await asyncio.sleep(SAMPLE_SECONDS)


async def measure_export(http: httpx.AsyncClient, dataset: str, hub_pid: int | None) -> dict[str, Any]:
    peak = [0]
    sampler = asyncio.create_task(_sample_rss(hub_pid, peak)) if hub_pid else None
    started = time.perf_counter()
    lines = received = 0
    try:
        async with http.stream("GET", f"/api/exports/{dataset}.csv") as response:
            if response.status_code != 200:
                body = (await response.aread())[:200]
                raise click.ClickException(f"export answered {response.status_code}: {body!r}")
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                lines += chunk.count(b"\n")
    finally:
        if sampler is not None:
            sampler.cancel()
    seconds = time.perf_counter() - started
    rows = max(lines - 1, 0)
    result: dict[str, Any] = {"dataset": dataset, "export_rows": rows, "export_bytes": received,
                              "export_seconds": round(seconds, 3), "export_rows_per_s": round(rows / seconds, 1)}
    if hub_pid:
        hwm = _status_kb(hub_pid, "VmHWM")
        result["hub_peak_rss_mb"] = round(peak[0] / 1024, 1)
        result["hub_vmhwm_mb"] = round(hwm / 1024, 1) if hwm is not None else None
    return result


def import_file(rows: int) -> bytes:
    """`rows` child-parent rows: fresh children, 30 to a standard parent of a random range."""
    base = secrets.randbelow(100_000 - rows // 30 - 2)
    tag = secrets.token_hex(4).upper()
    lines = ["child,parent"]
    lines += [f"L{tag}{n:08d},SB{base + n // 30:05d}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def measure_import(http: httpx.AsyncClient, rows: int, area: str, mode: str) -> dict[str, Any]:
    data = import_file(rows)
    started = time.perf_counter()
    last: dict[str, Any] = {}
    async with http.stream("POST", "/api/imports", params={"kind": "links", "mode": mode, "area": area,
                                                           "name": f"loadtest-{rows}.csv"},
                           content=data, headers={"content-type": "text/csv"}) as response:
        if response.status_code != 200:
            body = (await response.aread())[:200]
            raise click.ClickException(f"import answered {response.status_code}: {body!r}")
        async for line in response.aiter_lines():
            if line:
                last = json.loads(line)
    seconds = time.perf_counter() - started
    record = last.get("import") or {}
    return {"import_rows": rows, "import_mode": mode, "import_seconds": round(seconds, 3),
            "import_rows_per_s": round(rows / seconds, 1), "import_status": record.get("status"),
            "import_applied": record.get("applied"), "import_already": record.get("already"),
            "import_bad": record.get("bad")}


async def run(url: str, username: str, password: str, hub_pid: int | None, dataset: str, rows: int,
              area: str, mode: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=TIMEOUT) as http:
        login = await http.post("/api/login", json={"username": username, "password": password})
        if login.status_code != 200:
            raise click.ClickException(f"login answered {login.status_code}: {login.text[:200]}")
        result = await measure_export(http, dataset, hub_pid) if dataset else {}
        if rows:
            result.update(await measure_import(http, rows, area, mode))
        return result


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", required=True, help="Base URL of a hub (http://host:port).")
@click.option("--username", required=True, help="An admin account (imports are for admins).")
@click.option("--password", envvar="LOADTEST_PASSWORD", required=True, help="Its password (or LOADTEST_PASSWORD).")
@click.option("--hub-pid", type=int, default=None, help="PID of the hub process: its RSS is sampled from /proc.")
@click.option("--dataset", type=click.Choice(["bags", "links", "bills", "scans", ""]), default="bags",
              show_default=True, help="Dataset exported in full as CSV ('' skips the export).")
@click.option("--rows", type=click.IntRange(min=0, max=200_000), default=10_000, show_default=True,
              help="Rows of the generated import file (0 skips the import).")
@click.option("--area", default="lucknow", show_default=True, help="Dispatch area of the parents the import creates.")
@click.option("--mode", type=click.Choice(["rows", "all"]), default="rows", show_default=True, help="Import mode.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the result as JSON to this file.")
def main(url: str, username: str, password: str, hub_pid: int | None, dataset: str, rows: int, area: str,
         mode: str, json_path: str | None) -> None:
    """Measure a hub's exports (rows/s, peak RSS) and imports (rows/s)."""
    try:
        result = asyncio.run(run(url, username, password, hub_pid, dataset, rows, area, mode))
    except httpx.HTTPError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    for key, value in result.items():
        click.echo(f"{key:>20}: {value}")
    if json_path:
        with open(json_path, "w") as file:
            json.dump(result, file, indent=2)
