"""Running the app under uvicorn, with a shutdown that acks before it closes, and a log with no tokens.

uvicorn's own shutdown closes every websocket with 1012 at once, dropping acks still due. The hub
first stops accepting, lets each scanner session finish (commit and ack what it accepted), closes
it with 1012, and only then hands over to uvicorn's shutdown.

uvicorn logs every request line with its query string, which for a wall screen holds its token:
the log configuration here masks every `token=` value before any handler writes it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import socket
from typing import Any

import uvicorn
import uvicorn.config
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("tracetrack.server")

_TOKEN = re.compile(r"(?i)((?:^|[?&;])token=)[^&;\s\"]*")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with the value of every `token=` query parameter replaced by [redacted]."""
    return _TOKEN.sub(rf"\g<1>{REDACTED}", text)


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


class HubServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        hub = _find_hub(self.config.loaded_app)
        if hub is not None and not self.force_exit:
            try:
                await asyncio.wait_for(hub.drain(), self.config.timeout_graceful_shutdown)
            except TimeoutError:
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
