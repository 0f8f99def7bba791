"""Every websocket this hub process holds open: admitted under the caps, found again to be closed.

A connection is admitted once its login has been checked, for its principal (a user, or a
wall-screen token); the caps per principal and per process hold here. A revocation (a logout, "log
out everywhere", a device released by an admin) ends the matching connections here at once and is
published to the other hub processes, whose `on_message` ends theirs: within the broker's delivery
time, not at their next periodic re-check.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hub.codes import Close

logger = logging.getLogger("tracetrack.connections")

REVOCATIONS = "revocations"
"""The broker channel revocations travel on."""
SPREAD = 0.2
"""The timers every open connection keeps (its login's re-check every SESSION_RECHECK_SECONDS, its
keepalive ping every 20 s) each fire after a random 80-100 % of their interval: connections opened
together (a shift's scanners, the clients of a restarted hub) would otherwise fire them together,
every interval: all their re-checks in one statement (`hub.rechecks` answers those due within a
second together) touching thousands of sessions at once, or a ping and a pong on every socket in
the same few milliseconds, beside the scans being acked."""


def spread(seconds: float) -> float:
    """Seconds until a connection's timer of interval `seconds` fires next, `seconds` at most."""
    return seconds * random.uniform(1 - SPREAD, 1.0)


class Connection(Protocol):
    """What the registry needs of a scanner session or a dashboard connection."""

    principal: str
    user_id: int | None
    token_hash: bytes | None

    @property
    def device(self) -> str | None:
        """The scanner device it speaks for, once known (None for dashboards)."""

    def end(self, code: int, reason: str) -> None:
        """Stop taking requests now and close soon (in the background)."""


@dataclass(frozen=True)
class Revocation:
    """Which connections must end: every one of a user, of one login session, of one principal (a
    wall-screen token), or of one device."""

    user_id: int | None = None
    token_hash: bytes | None = None
    principal: str | None = None
    device: str | None = None

    def matches(self, connection: Connection) -> bool:
        return ((self.user_id is not None and connection.user_id == self.user_id)
                or (self.token_hash is not None and connection.token_hash == self.token_hash)
                or (self.principal is not None and connection.principal == self.principal)
                or (self.device is not None and connection.device == self.device))

    @property
    def close(self) -> tuple[Close, str]:
        if self.device is not None:
            return Close.DEVICE_TAKEN, "device released by an admin"
        if self.principal is not None:
            return Close.SESSION_REVOKED, "wall-screen token revoked"
        return Close.SESSION_REVOKED, "session revoked"

    def message(self, origin: str) -> dict[str, Any]:
        return {"origin": origin, "user": self.user_id, "device": self.device, "principal": self.principal,
                "token": None if self.token_hash is None else self.token_hash.hex()}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Revocation:
        token = message.get("token")
        return cls(user_id=message.get("user"), device=message.get("device"), principal=message.get("principal"),
                   token_hash=bytes.fromhex(token) if isinstance(token, str) else None)


def user_principal(user_id: int) -> str:
    return f"user:{user_id}"


def wall_principal(token_id: int) -> str:
    return f"wall:{token_id}"


class Connections:
    def __init__(self, origin: str, max_total: int, max_per_principal: int,
                 publish: Callable[[dict[str, Any]], None]) -> None:
        self.origin = origin
        self.max_total = max_total
        self.max_per_principal = max_per_principal
        self._publish = publish
        self._open: set[Connection] = set()
        self._per_principal: Counter[str] = Counter()

    def admit(self, connection: Connection) -> str | None:
        """Count the connection in; the reason it may not be open, or None when it was admitted."""
        if len(self._open) >= self.max_total:
            return "this hub has too many connections; try again shortly"
        if self._per_principal[connection.principal] >= self.max_per_principal:
            return f"more than {self.max_per_principal} connections of one login"
        self._open.add(connection)
        self._per_principal[connection.principal] += 1
        return None

    def leave(self, connection: Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._per_principal[connection.principal] -= 1
            if not self._per_principal[connection.principal]:
                del self._per_principal[connection.principal]

    def __len__(self) -> int:
        return len(self._open)

    def count(self, principal: str) -> int:
        return self._per_principal[principal]

    def revoke(self, revocation: Revocation) -> int:
        """End the matching connections here now, and tell the other hubs; how many ended here."""
        self._publish(revocation.message(self.origin))
        return self._end(revocation)

    def on_message(self, message: dict[str, Any]) -> None:
        """Another hub's revocation (this hub's own never comes back here)."""
        try:
            revocation = Revocation.from_message(message)
        except (TypeError, ValueError):
            logger.warning("ignored a malformed revocation: %r", message)
            return
        self._end(revocation)

    def _end(self, revocation: Revocation) -> int:
        matching = [connection for connection in self._open if revocation.matches(connection)]
        code, reason = revocation.close
        for connection in matching:
            connection.end(code, reason)
        return len(matching)

