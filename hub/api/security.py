"""The HTTP edge's defences, each a small pure ASGI middleware that runs before any endpoint.

- `BodyLimit`: a body over MAX_BODY_BYTES is refused with 413: at once when Content-Length says
  so, as soon as the streamed chunks pass the limit otherwise. Nothing buffers more than the limit.
  The import route alone has a larger limit of its own (IMPORT_MAX_BYTES).
- `SameOrigin`: a request that may change something (any method but GET, HEAD and OPTIONS) must come
  from the hub's own pages or an ALLOWED_ORIGINS one, and must send JSON; a form or `text/plain`
  body, which any site can make a browser send, gets 415. The import route takes a file body
  instead, of the content types it names (never a form or `text/plain`). Clients that are not browsers send no
  Origin and no Sec-Fetch-Site, and are judged by their session alone.
- `SecurityHeaders`: every answer forbids framing, sniffing, inline script and referrers; over
  HTTPS it adds HSTS. Answers that carry a session's data or a wall-screen token are not cached.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.errors import api_error
from hub.codes import ApiCode

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=31536000"


def own_origins(scope: Scope, https: bool) -> set[str]:
    """The origins of the hub's own pages, as the browser sees them: its scheme and Host.

    Behind a TLS proxy the hub may see plain HTTP while the browser sees HTTPS; `https` says so.
    """
    host = Headers(scope=scope).get("host", "")
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return {f"{scheme}://{host}", f"https://{host}"} if https else {f"{scheme}://{host}"}


def origin_allowed(scope: Scope, allowed: tuple[str, ...], https: bool = False) -> bool:
    """A browser's request or websocket comes from the hub's own origin or a configured one.

    Browsers send Origin with every websocket and every request that may change something; when
    they leave it out they still say where the request comes from in Sec-Fetch-Site. A client
    that sends neither is not a browser: no other site can make it carry the user's cookie.
    """
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is None:
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    return origin in own_origins(scope, https) or origin in allowed


def _json_or_nothing(headers: Headers) -> bool:
    content_type = headers.get("content-type")
    if content_type is None:
        return headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _declared_type(headers: Headers) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


class SameOrigin:
    """`uploads`: paths that take a file body instead of JSON, with the content types each admits."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...], https: bool,
                 uploads: Mapping[str, frozenset[str]] | None = None) -> None:
        self.app = app
        self.allowed = allowed
        self.https = https
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            if not origin_allowed(scope, self.allowed, self.https):
                await api_error(ApiCode.CROSS_ORIGIN)(scope, receive, send)
                return
            headers = Headers(scope=scope)
            upload = self.uploads.get(scope["path"])
            if upload is not None and _declared_type(headers) not in upload:
                await api_error(ApiCode.UNSUPPORTED_MEDIA_TYPE,
                                f"Send the file with Content-Type one of: {', '.join(sorted(upload))}.")(
                    scope, receive, send)
                return
            if upload is None and not _json_or_nothing(headers):
                await api_error(ApiCode.UNSUPPORTED_MEDIA_TYPE)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """`uploads`: paths whose bodies may be larger (an import file), with the limit of each."""

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.uploads.get(scope["path"], self.max_bytes)
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def receive_bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_bounded, send_tracked)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = api_error(ApiCode.PAYLOAD_TOO_LARGE,
                             f"The request body may be at most {limit} bytes.", {"Connection": "close"})
        await response(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.headers = {**HEADERS, "strict-transport-security": HSTS} if https else HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A query may carry a wall-screen token (under any spelling of its name): never kept in a cache.
        no_store = scope["path"].startswith("/api/") or bool(scope.get("query_string"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if no_store:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
