"""A bare websocket echo server, served the way `tracetrack serve` serves the hub.

It sends every frame straight back: no login, no decoding, no database. Driven by the same
simulated scanners (`python -m loadtest --echo`), it measures what the websocket stack alone allows
on this machine, the denominator of the benchmark ratio hub scans/s ÷ echo msgs/s.
Run it by hand with `python -m loadtest.echo --port 8100`.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import click
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from loadtest.hubs import free_port

# The hub's own uvicorn settings (hub/cli.py, `serve`), bar the log level.
WS_IMPLEMENTATION = "websockets-sansio"
WS_MAX_SIZE = 65536
START_TIMEOUT = 15.0


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.send_bytes(await websocket.receive_bytes())


app = Starlette(routes=[WebSocketRoute("/ws/scan", echo)])


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    """Start the echo server as a process of its own on a free port; its base URL until exit."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "loadtest.echo", "--port", str(port)])
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise OSError(f"the echo server did not start listening on port {port}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8100, show_default=True)
def main(host: str, port: int) -> None:
    """Serve the bare echo app at ws://HOST:PORT/ws/scan."""
    uvicorn.run(app, host=host, port=port, ws=WS_IMPLEMENTATION, ws_max_size=WS_MAX_SIZE,
                log_level="warning")


if __name__ == "__main__":
    main()
