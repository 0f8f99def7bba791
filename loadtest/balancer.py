"""HAProxy in front of hub processes, run from deploy/haproxy.cfg itself, and what it says of each hub.

The shipped file reads its addresses from environment variables (TRACETRACK_LB_BIND,
TRACETRACK_LB_STATS, TRACETRACK_HUB1..3); here they are set to free ports, so what the scale-out
benchmark and tests/test_scaleout.py run is the configuration a deployment runs. A hub that is not
running (yet) is a server HAProxy finds down; one that starts on its address joins the rotation.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtest.hubs import HubFailed, free_port, stop

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "haproxy.cfg"
SERVERS = ("hub1", "hub2", "hub3")
"""The `server` lines of deploy/haproxy.cfg, in order."""
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
POLL = 0.05


def executable() -> str:
    """HAProxy from the distribution's package (Debian's `haproxy` puts it in /usr/sbin)."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise HubFailed("HAProxy is not installed (Debian and Ubuntu: apt-get install haproxy)")
    return found


def environment(bind: str, stats: str, hubs: Sequence[str]) -> dict[str, str]:
    """The variables deploy/haproxy.cfg reads: where it listens, its statistics page, each hub."""
    if len(hubs) != len(SERVERS):
        raise ValueError(f"deploy/haproxy.cfg names {len(SERVERS)} hubs, not {len(hubs)}")
    env = {"TRACETRACK_LB_BIND": bind, "TRACETRACK_LB_STATS": stats}
    env.update({f"TRACETRACK_{server.upper()}": address for server, address in zip(SERVERS, hubs)})
    return env


@dataclass(frozen=True)
class Server:
    """One hub as HAProxy sees it: "UP", "DOWN" (or a transition such as "UP 1/2"), open sessions."""

    status: str
    sessions: int


@dataclass(frozen=True)
class Balancer:
    url: str
    stats_url: str
    pid: int

    def servers(self) -> dict[str, Server]:
        """Each hub's state, from the statistics page's CSV."""
        response = httpx.get(f"{self.stats_url};csv", timeout=5)
        response.raise_for_status()
        rows = csv.DictReader(io.StringIO(response.text.lstrip("# ")))
        return {row["svname"]: Server(row["status"], int(row["scur"] or 0))
                for row in rows if row["pxname"] == "hubs" and row["svname"] in SERVERS}

    def wait_for(self, wanted: dict[str, str], timeout: float = START_TIMEOUT) -> dict[str, Server]:
        """Wait until each named hub has the status wanted ("UP" or "DOWN"); the servers then."""
        deadline = time.monotonic() + timeout
        while True:
            servers = self.servers()
            if all(servers[name].status == status for name, status in wanted.items()):
                return servers
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy's hubs are {servers}, not {wanted}, after {timeout:g} s")
            time.sleep(POLL)


@contextlib.contextmanager
def haproxy(hubs: Sequence[str], log_path: Path) -> Iterator[Balancer]:
    """HAProxy on deploy/haproxy.cfg in front of `hubs` ("host:port" each), on free ports of
    127.0.0.1, its log in `log_path`; stopped at exit."""
    if not CONFIG.exists():  # the wheel ships loadtest but not deploy/
        raise HubFailed(f"{CONFIG} is missing: run from a checkout of the repository")
    port, stats_port = free_port(), free_port()
    env = {**os.environ, **environment(f"127.0.0.1:{port}", f"127.0.0.1:{stats_port}", hubs)}
    with open(log_path, "ab") as log:
        process = subprocess.Popen([executable(), "-db", "-f", str(CONFIG)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    balancer = Balancer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}/stats", process.pid)
    try:
        _wait_started(balancer, process, log_path)
        yield balancer
    finally:
        stop(process, STOP_TIMEOUT)


def _wait_started(balancer: Balancer, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            balancer.servers()
            return
        time.sleep(POLL)
    raise HubFailed(f"HAProxy did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
