"""A real hub: `python -m hub serve` as a subprocess on a free port; users who log in to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import psutil

from hub import accounts
from tests.services import free_port

START_TIMEOUT = 60.0
PASSWORD = "scan-all-day-long"  # of the users `create_users` makes


class HubProcess:
    """One hub subprocess. `start()` waits for /ready; `kill()` is a SIGKILL, `stop()` a SIGTERM."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int | None = None,
                 command: tuple[str, ...] = (sys.executable, "-m", "hub")) -> None:
        """`command`: what runs the hub (by default this interpreter's `hub`; an installed `tracetrack` too)."""
        self.workdir = workdir
        self.command = command
        self.env = {**os.environ, **env}
        for name in ("DATABASE_URL", "REDIS_URL"):
            if env.get(name) is None:
                self.env.pop(name, None)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"hub-{self.port}.log"

    def start(self, *serve_args: str, wait: bool = True) -> HubProcess:
        """Run `serve --port PORT` with `serve_args` after it (e.g. "--workers", "2")."""
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*self.command, "serve", "--port", str(self.port), *serve_args],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub not ready after {timeout}s:\n{self.log()}")

    def ws_url(self, path: str) -> str:
        """The websocket address of `path` on this hub, e.g. "/ws/scan"."""
        return self.url.replace("http://", "ws://", 1) + path

    def workers(self, count: int, timeout: float = 60.0) -> list[psutil.Process]:
        """Under `--workers`: the supervisor's `count` worker processes, once each has started serving."""
        assert self.process is not None
        supervisor = psutil.Process(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = [p for p in supervisor.children() if "resource_tracker" not in " ".join(p.cmdline())]
            log = self.log()
            serving = [w for w in workers if f"Started server process [{w.pid}]" in log]
            if len(workers) == len(serving) == count and log.count("Application startup complete") >= count:
                assert httpx.get(f"{self.url}/ready", timeout=5).status_code == 200
                return workers
            time.sleep(0.2)
        raise AssertionError(f"expected {count} workers:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


async def create_users(pool: asyncpg.Pool, names: list[str], role: str = "dispatcher",
                       area: str = "lucknow") -> None:
    """Users called `names`, straight into the database, each with the password PASSWORD."""
    for name in names:
        await accounts.create_user(pool, username=name, password=PASSWORD, role=role, area=area)


async def login(base_url: str, username: str, password: str = PASSWORD) -> str:
    """Log in to the hub at `base_url` over HTTP; the session token."""
    async with httpx.AsyncClient(base_url=base_url, timeout=20.0) as http:
        response = await http.post("/api/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.cookies["tt_session"]
