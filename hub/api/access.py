"""Who may call an endpoint: a live session with one of the roles an endpoint names."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from hub.api.errors import api_error
from hub.auth import current_user
from hub.codes import ApiCode
from hub.domain.rules import Actor, Role

Handler = Callable[[Request, Actor], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def requires(*roles: Role) -> Callable[[Handler], Endpoint]:
    """Make `handler(request, actor)` an endpoint for logged-in users with one of `roles` (any if none).

    No live session: 401 UNAUTHENTICATED. Another role: 403 FORBIDDEN.
    """
    def decorate(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            actor = await current_user(request)
            if actor is None:
                return api_error(ApiCode.UNAUTHENTICATED)
            if roles and actor.role not in roles:
                return api_error(ApiCode.FORBIDDEN)
            return await handler(request, actor)
        return endpoint
    return decorate
