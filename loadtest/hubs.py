"""What a suite scenario runs against: a fresh database, hub processes started on it, a Redis prefix.

Each scenario gets a database of its own, created through an admin URL and dropped afterwards
(unless kept), so no scenario measures a table another one filled. A hub is `python -m hub serve`
as a subprocess (it migrates the fresh database as it starts) with the per-device, per-user and API
rate limits raised far above any load the suite makes: the suite measures the hub, not its limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import redis

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LOG_TAIL = 2000
UNLIMITED = {
    "API_REQUESTS_PER_MINUTE": "10000000",
    "DEVICE_OPS_PER_SECOND": "1000000",
    "DEVICE_OPS_BURST": "1000000",
    "USER_OPS_PER_SECOND": "10000000",
    "USER_OPS_BURST": "10000000",
}
"""Rate limits raised out of the way, in every hub the suite starts (and in its printed commands)."""


class HubFailed(Exception):
    """A hub did not start, or the scenario's database or Redis could not be set up; says why."""


@dataclass(frozen=True)
class Hub:
    url: str
    pid: int


def hub_env(database_url: str, redis_url: str | None, redis_prefix: str | None) -> dict[str, str]:
    """The settings a suite hub runs with, bar its secrets and data directory."""
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "warning", "TIMEZONE": "UTC", **UNLIMITED}
    if redis_url is not None and redis_prefix is not None:
        env.update(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    return env


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead, its query (a socket host, say) kept."""
    scheme, rest = url.split("://", 1)
    authority, _, tail = rest.partition("/")
    _, _, query = tail.partition("?")
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(admin_url: str, name: str, keep: bool) -> Iterator[str]:
    """Create database `name` through `admin_url`; its URL until exit, then drop it unless `keep`."""
    try:
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise HubFailed(f"could not create database {name} through {admin_url}: {exc}") from None
    try:
        yield with_database(admin_url, name)
    finally:
        if not keep:
            asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def redis_prefix(redis_url: str, prefix: str, keep: bool) -> Iterator[str]:
    """A Redis key prefix of the scenario's own; its keys are deleted at exit unless `keep`."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=10)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        raise HubFailed(f"Redis at {redis_url} does not answer: {exc}") from None
    try:
        yield prefix
    finally:
        if not keep:
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.delete(key)
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def hub_process(env: dict[str, str], port: int | None = None) -> Iterator[Hub]:
    """`python -m hub serve` on `port` (else a free one) with `env`; the hub, once /ready answers,
    until exit (a hub already killed is just waited for). Its ADMIN_PASSWORD and SESSION_SECRET are
    random unless `env` sets them (hubs behind one load balancer, or a replacement on a port, must
    share a SESSION_SECRET: a session begun on one is presented to another)."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="tracetrack-suite-") as workdir:
        environ = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
        environ.update({"ADMIN_PASSWORD": secrets.token_urlsafe(18), "SESSION_SECRET": secrets.token_urlsafe(32),
                        **env, "TRACETRACK_DATA_DIR": str(Path(workdir) / "data")})
        log_path = Path(workdir) / "hub.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--port", str(port)], cwd=workdir,
                                       env=environ, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, process, log_path)
            yield Hub(url, process.pid)
        finally:
            stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    state = f"exited with {process.returncode}" if process.poll() is not None else f"not ready in {START_TIMEOUT} s"
    raise HubFailed(f"the hub at {url} {state}:\n{log_path.read_text(errors='replace')[-LOG_TAIL:]}")


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (a hub's graceful shutdown, HAProxy's too), then SIGKILL if that takes longer than `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
