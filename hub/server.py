"""Running the app under uvicorn, with a shutdown that acks before it closes.

uvicorn's own shutdown closes every websocket with 1012 at once, dropping acks still due. The hub
first stops accepting, lets each scanner session finish (commit and ack what it accepted), closes
it with 1012, and only then hands over to uvicorn's shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("tracetrack.server")


def _find_hub(app: Any) -> Any:
    """The Hub behind uvicorn's middleware wrappers, once the lifespan has opened it."""
    while app is not None and not isinstance(app, Starlette):
        app = getattr(app, "app", None)
    return getattr(app.state, "hub", None) if app is not None else None


class HubServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        hub = _find_hub(self.config.loaded_app)
        if hub is not None and not self.force_exit:
            try:
                await asyncio.wait_for(hub.drain(), self.config.timeout_graceful_shutdown)
            except asyncio.TimeoutError:
                logger.warning("scanner sessions did not drain in time; clients will resend")
        await super().shutdown(sockets)


def run(config: uvicorn.Config, workers: int) -> None:
    """Serve in this process, or in `workers` processes sharing one listening socket."""
    server = HubServer(config)
    if workers == 1:
        server.run()
        return
    sock = config.bind_socket()
    Multiprocess(config, target=server.run, sockets=[sock]).run()
