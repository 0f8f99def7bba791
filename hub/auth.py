"""Who a request or a websocket belongs to: the session cookie, the key of its token, the first admin.

The cookie carries a random token; the session behind it lives in PostgreSQL (see `hub.accounts`),
so any hub process can check it and an admin can revoke it at once. The HTTP API sets it at login
(`hub.api.login`) and checks roles with it (`hub.api.access`); the websockets check it at connect.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets

import asyncpg
from starlette.requests import HTTPConnection

from hub import accounts
from hub.domain.rules import Actor
from hub.settings import Settings, SettingsError

logger = logging.getLogger("tracetrack.auth")

COOKIE_NAME = "tt_session"
COOKIE_MAX_AGE = 7 * 24 * 3600
"""The cookie outlives a browser restart (a handheld rebooted mid-shift keeps scanning); the session
itself still ends after SESSION_IDLE_MINUTES without activity, or when revoked."""
SECRET_FILE = "session_secret"


def secret_bytes(settings: Settings) -> bytes:
    """The key of the session token hashes: SESSION_SECRET, or in development one kept in the data dir.

    The generated secret is written once, readable by the owner only, and shared by every process
    that uses the same data directory.
    """
    if settings.session_secret:
        return settings.session_secret.encode()
    if settings.production:
        raise SettingsError("SESSION_SECRET must be set when TRACETRACK_ENV=production")
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{SECRET_FILE}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            with contextlib.suppress(FileExistsError):  # another process wrote it first: use theirs
                os.link(draft, path)  # atomic: nobody ever reads a half-written secret
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


async def ensure_first_admin(pool: asyncpg.Pool, settings: Settings) -> str | None:
    """`accounts.ensure_first_admin`, logging a generated password so a bare app start shows it too."""
    password = await accounts.ensure_first_admin(pool, settings)
    if password is not None:
        logger.warning("created the first admin account %r with the generated password %r; "
                       "it is shown only this once", settings.admin_username, password)
    return password


async def current_user(conn: HTTPConnection) -> Actor | None:
    """The user of the request's or websocket's session cookie, or None. Counts as activity.

    Looked up together with the other requests and websockets asking meanwhile (`hub.lookups`)."""
    token = conn.cookies.get(COOKIE_NAME)
    if not token or not accounts.plausible(token):
        return None
    hub = conn.app.state.hub
    actor: Actor | None = await hub.session_lookups.get(accounts.token_hash(hub.session_secret, token))
    return actor
