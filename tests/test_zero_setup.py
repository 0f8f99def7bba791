"""The zero-setup start: `tracetrack serve` with no DATABASE_URL and no REDIS_URL, as a real process.

It runs its own PostgreSQL in the data directory; whichever way it stops (SIGTERM, Ctrl-C, even a
SIGTERM while PostgreSQL is still starting) no PostgreSQL may outlive it, and after a `kill -9` the
next start carries on with the server the killed one left behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.hubprocess import HubProcess

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "zero-setup-admin-password"
GENERATED_PASSWORD = re.compile(r"Created the first admin account: username 'admin', password '([^']+)'")


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """PostgreSQL processes whose command line mentions `data_dir`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or ()
        if process.info["name"] == "postgres" and any(str(data_dir) in arg for arg in cmdline):
            found.append(process)
    return found


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The hub's data directory; any PostgreSQL still running on it at the end fails the test."""
    path = (tmp_path / "data").resolve()
    yield path
    leftovers = postgres_processes(path)
    for process in leftovers:
        process.kill()
    assert not leftovers, f"PostgreSQL left running on {path}"


@pytest.fixture
def zero_setup(tmp_path: Path, data_dir: Path) -> Iterator[type[HubProcess]]:
    """Hub processes with no DATABASE_URL and no REDIS_URL in the environment; all stopped afterwards."""
    started: list[HubProcess] = []

    class ZeroSetupHub(HubProcess):
        def __init__(self, admin_password: str | None = ADMIN_PASSWORD) -> None:
            super().__init__(tmp_path, {"TRACETRACK_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
            for name in ("SESSION_SECRET", "ADMIN_PASSWORD", "TRACETRACK_ENV"):
                self.env.pop(name, None)
            if admin_password is not None:
                self.env["ADMIN_PASSWORD"] = admin_password
            started.append(self)

    yield ZeroSetupHub
    for hub in started:
        hub.stop()


def test_serves_without_services_and_sigterm_stops_postgres(
    zero_setup: type[HubProcess], data_dir: Path
) -> None:
    hub = zero_setup(admin_password=None).start()
    ready = httpx.get(f"{hub.url}/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert httpx.get(f"{hub.url}/health", timeout=5).status_code == 200
    assert postgres_processes(data_dir), "the embedded PostgreSQL runs in the data directory"

    printed = GENERATED_PASSWORD.findall(hub.log())
    assert len(printed) == 1, hub.log()
    login = httpx.post(f"{hub.url}/api/login", json={"username": "admin", "password": printed[0]}, timeout=5)
    assert login.status_code == 200
    assert hub.log().count(printed[0]) == 1, "the generated password is shown once, not also logged"

    assert hub.terminate(timeout=30) == 0, hub.log()
    assert postgres_processes(data_dir) == []

    # The second start uses the same data: no new password, and Ctrl-C stops PostgreSQL as well.
    again = zero_setup(admin_password=None).start()
    assert httpx.get(f"{again.url}/ready", timeout=5).status_code == 200
    assert again.process is not None
    again.process.send_signal(signal.SIGINT)
    assert again.process.wait(30) == 0, again.log()
    assert "Created the first admin account" not in again.log()
    assert postgres_processes(data_dir) == []


def test_start_after_kill_reattaches_to_the_left_over_postgres(
    zero_setup: type[HubProcess], data_dir: Path
) -> None:
    killed = zero_setup().start()
    left_over = postmaster_pid(data_dir)
    killed.kill()
    assert psutil.pid_exists(left_over), "kill -9 gives the hub no chance to stop PostgreSQL"

    hub = zero_setup().start()
    assert httpx.get(f"{hub.url}/ready", timeout=5).status_code == 200
    assert postmaster_pid(data_dir) == left_over, "the left-over server was reattached"

    # A command run beside the hub shares its server and leaves it running for the hub.
    migrate = subprocess.run([sys.executable, "-m", "hub", "migrate"], cwd=hub.workdir, env=hub.env,
                             capture_output=True, text=True, timeout=60)
    assert migrate.returncode == 0, migrate.stderr
    assert "database is up to date" in migrate.stdout
    assert httpx.get(f"{hub.url}/ready", timeout=5).status_code == 200
    assert hub.terminate(timeout=30) == 0, hub.log()
    assert postgres_processes(data_dir) == []


def test_sigterm_while_postgres_starts_stops_it(zero_setup: type[HubProcess], data_dir: Path) -> None:
    hub = zero_setup().start(wait=False)
    assert hub.process is not None
    deadline = time.monotonic() + 30
    while not (data_dir / "postgres").exists():  # created just before initdb runs
        assert hub.process.poll() is None, hub.log()
        assert time.monotonic() < deadline, hub.log()
        time.sleep(0.01)
    hub.process.send_signal(signal.SIGTERM)
    assert hub.process.wait(30) == 0, hub.log()
    assert postgres_processes(data_dir) == []


def test_more_than_one_worker_needs_redis(tmp_path: Path, data_dir: Path) -> None:
    env = {**os.environ, "TRACETRACK_DATA_DIR": str(data_dir)}
    for name in ("DATABASE_URL", "REDIS_URL", "TRACETRACK_ENV"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "hub", "serve", "--workers", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr and "Redis" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data_dir / "postgres").exists(), "no PostgreSQL is started for a refused start"
