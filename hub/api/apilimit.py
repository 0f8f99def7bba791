"""The API's rate limit: requests to /api/ per client address per minute, shared through Redis.

Counted by the hub's limiter (`hub.ratelimit`), so several hub processes with one Redis count
together. Pages, scripts and websockets are not counted here.
"""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.errors import api_error
from hub.codes import ApiCode
from hub.ratelimit import client_address

WINDOW = 60.0


class ApiRateLimit:
    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.per_minute = per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            limiter = scope["app"].state.hub.limiter
            wait = await limiter.hit(f"api:{client_address(scope)}", self.per_minute, WINDOW)
            if wait is not None:
                retry_after = str(max(1, math.ceil(wait)))
                await api_error(ApiCode.RATE_LIMITED, headers={"Retry-After": retry_after})(scope, receive, send)
                return
        await self.app(scope, receive, send)
