"""Running the app under uvicorn, with a shutdown that acks before it closes, and a log with no tokens.

uvicorn's own shutdown closes every websocket with 1012 at once, dropping acks still due. The hub
first fails its readiness probe for DRAIN_NOTICE_SECONDS while it still serves (so a load balancer
moves new connections elsewhere), then stops accepting, lets each scanner session finish (commit
and ack what it accepted), closes it with 1012, and only then hands over to uvicorn's shutdown
(which closes the dashboards with 1012). Several workers are supervised here
rather than by uvicorn's `Multiprocess`, whose workers run a plain `uvicorn.Server` and so would skip
that drain.

uvicorn waits for a request's headers for ever: a connection that sends them a byte at a time (or
never) is held open (slow loris). The hub gives every connection `timeouts.headers` seconds for the
headers of each request, the websocket upgrade included.

uvicorn logs every request line with its query string, which for a wall screen holds its token:
the log configuration here masks every `token=` value before any handler writes it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import multiprocessing
import os
import re
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote_plus

import uvicorn
import uvicorn.config
from prometheus_client import multiprocess
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub.metrics import MULTIPROC_DIR

if TYPE_CHECKING:
    from hub.app import Hub

logger = logging.getLogger("tracetrack.server")

RESPAWN_DELAY = 1.0
NOTICE_POLL = 0.1
"""Seconds between looks at uvicorn's force_exit during the drain notice."""

_PARAMETER = re.compile(r"((?:^|[?&;])([^=&;?\s\"]*)=)[^&;\s\"]*")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with the value of every `token` query parameter replaced by [redacted], however its name
    is spelled on the wire (`%74oken`, `TOKEN`, `+token`): the name is judged as the app decodes it."""

    def mask(match: re.Match[str]) -> str:
        secret = unquote_plus(match[2]).strip().lower() == "token"
        return f"{match[1]}{REDACTED}" if secret else match[0]

    return _PARAMETER.sub(mask, text)


class RedactTokens(logging.Filter):
    """Mask tokens in a record's message and arguments (uvicorn passes the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with `RedactTokens` on every handler."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact_tokens": {"()": f"{__name__}.RedactTokens"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_tokens"]
    return config


def _find_hub(app: Any) -> Any:
    """The Hub behind uvicorn's middleware wrappers, once the lifespan has opened it."""
    while app is not None and not isinstance(app, Starlette):
        app = getattr(app, "app", None)
    return getattr(app.state, "hub", None) if app is not None else None


@dataclass(frozen=True)
class ConnectionTimeouts:
    """Seconds a connection has for each request's headers, and for taking what is sent to it."""

    headers: float
    unread: float


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers do not arrive in time.

    It also bounds how long the kernel keeps a connection whose peer takes none of what is sent
    (TCP_USER_TIMEOUT, zero-window probes included): closing a websocket only queues a close frame
    behind the unread data, and uvicorn never aborts a transport, so a client that stops reading
    would otherwise hold its socket, and its buffers, for as long as it likes.
    """

    timeouts: ClassVar[ConnectionTimeouts]  # set on the subclass HubServer.startup makes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._headers_due: asyncio.TimerHandle | None = None
        sock = transport.get_extra_info("socket")
        if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT") and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(self.timeouts.unread * 1000))
        super().connection_made(transport)
        self._await_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_headers()

    def on_headers_complete(self) -> None:
        self._headers_arrived()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._headers_arrived()
        self._headers_due = self.loop.call_later(self.timeouts.headers, self._headers_late)

    def _headers_arrived(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_late(self) -> None:
        self._headers_due = None
        if not self.transport.is_closing():
            self.transport.close()


class HubServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, timeouts: ConnectionTimeouts) -> None:
        super().__init__(config)
        self.timeouts = timeouts

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if issubclass(self.config.http_protocol_class, HttpToolsProtocol):
            self.config.http_protocol_class = type("HubHttpProtocol", (HeaderTimeoutProtocol,),
                                                   {"timeouts": self.timeouts})
        else:
            logger.warning("no httptools: request headers are not timed (slow clients are not dropped)")
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = _find_hub(self.config.loaded_app)
        if hub is not None:
            await self._give_notice(hub)
        for server in self.servers:
            server.close()
        if hub is not None and not self.force_exit:
            try:
                await asyncio.wait_for(hub.drain(), self.config.timeout_graceful_shutdown)
            except TimeoutError:
                logger.warning("scanner sessions did not drain in time; clients will resend")
        await super().shutdown(sockets)

    async def _give_notice(self, hub: Hub) -> None:
        """Fail /ready and keep serving for DRAIN_NOTICE_SECONDS (a second signal cuts it short), so a
        load balancer has stopped routing here before the listening socket and the sessions close."""
        hub.draining = True
        notice = hub.settings.drain_notice
        if notice:
            logger.info("draining: /ready answers 503 for %.1f s before connections close", notice)
        deadline = time.monotonic() + notice
        while not self.force_exit and time.monotonic() < deadline:
            await asyncio.sleep(min(NOTICE_POLL, deadline - time.monotonic()))


def run(config: uvicorn.Config, workers: int, timeouts: ConnectionTimeouts) -> None:
    """Serve in this process, or in `workers` processes sharing one listening socket."""
    if workers == 1:
        HubServer(config, timeouts).run()
        return
    _supervise(config, config.bind_socket(), workers, timeouts)


def _serve_worker(config: uvicorn.Config, sock: socket.socket, timeouts: ConnectionTimeouts) -> None:
    config.configure_logging()
    HubServer(config, timeouts).run(sockets=[sock])


def _supervise(config: uvicorn.Config, sock: socket.socket, workers: int, timeouts: ConnectionTimeouts) -> None:
    """Keep `workers` hub processes serving `sock` until SIGINT or SIGTERM, then stop them gracefully.

    A worker that dies is replaced, so one crash does not take the process's share of scanners away.
    The workers keep their metrics in a fresh directory, so a scrape of any one reports them all.
    """
    with tempfile.TemporaryDirectory(prefix="tracetrack-metrics-") as directory:
        os.environ[MULTIPROC_DIR] = directory
        try:
            _keep_serving(config, sock, workers, timeouts)
        finally:
            del os.environ[MULTIPROC_DIR]


def _keep_serving(config: uvicorn.Config, sock: socket.socket, workers: int, timeouts: ConnectionTimeouts) -> None:
    spawn = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    def start() -> BaseProcess:
        process = spawn.Process(target=_serve_worker, args=(config, sock, timeouts),
                                name="tracetrack-worker")
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    logger.info("started %d workers: %s", workers, ", ".join(str(p.pid) for p in processes))
    while not stopping.wait(RESPAWN_DELAY):
        for n, process in enumerate(processes):
            if not process.is_alive():
                logger.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
                processes[n] = start()
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()
    sock.close()
