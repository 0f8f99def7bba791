"""A real hub: `python -m hub serve` as a subprocess on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.services import free_port

START_TIMEOUT = 60.0


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
