"""Throttling password guesses: slow the guesser down, never lock the account's owner out.

Failed logins are counted three ways over a window (LOGIN_WINDOW_MINUTES): per client address
(whatever the accounts), per account and address, and per account from all addresses together.
Past a limit, a login is answered 429 with Retry-After before any password is checked. The
account-wide limit, which takes guessing from many addresses to reach, does not apply to an address
the account has logged in from in the last KNOWN_DAYS: the owner's own devices keep working while
the account is under attack. An admin can lift an account's limits (`unlock`). With Redis the counts
are shared by every hub process.

Each attempt is counted before its password is checked (so concurrent guesses cannot slip past a
limit) and taken back when the password was right, or when it was not checked at all.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from hub.ratelimit import Limiter
from hub.settings import Settings

logger = logging.getLogger("tracetrack.logins")

KNOWN_DAYS = 30
"""How long an address where the account logged in stays exempt from the account-wide limit."""
_KNOWN_WINDOW = KNOWN_DAYS * 86400.0


@dataclass(frozen=True)
class LoginLimits:
    per_address: int
    per_account_address: int
    per_account: int
    window: float
    """Seconds."""

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(settings.login_failures_per_address, settings.login_failures_per_account_address,
                   settings.login_failures_per_account, settings.login_window_minutes * 60.0)


def _address_key(address: str) -> str:
    return f"login:address:{address}"


def _pair_prefix(username: str) -> str:
    return f"login:pair:{username}|"  # '|' is not allowed in usernames: no prefix of another's


def _account_key(username: str) -> str:
    return f"login:account:{username}"


def _known_key(username: str, address: str) -> str:
    return f"login:known:{username}|{address}"


class LoginGuard:
    def __init__(self, limiter: Limiter, limits: LoginLimits) -> None:
        self._limiter = limiter
        self._limits = limits

    async def _keys(self, username: str, address: str) -> list[tuple[str, int]]:
        """The counters an attempt goes to, in order; the account's unless the address is known."""
        limits = self._limits
        keys = [(_address_key(address), limits.per_address),
                (_pair_prefix(username) + address, limits.per_account_address)]
        if not await self._limiter.count(_known_key(username, address)):
            keys.append((_account_key(username), limits.per_account))
        return keys

    async def admit(self, username: str, address: str) -> int | None:
        """Count an attempt; None if its password may be checked, else whole seconds to wait.

        The counts are taken in order and the first one over its limit stops the rest, so a guesser
        stopped at its own address adds nothing to the account's count.
        """
        for key, limit in await self._keys(username, address):
            wait = await self._limiter.hit(key, limit, self._limits.window)
            if wait is not None:
                if await self._limiter.count(key) == limit + 1:  # the first refusal of this window
                    logger.warning("failed logins reached their limit (%d) for %s; refused for %.0f s",
                                   limit, key.removeprefix("login:"), wait)
                return max(1, math.ceil(wait))
        return None

    async def succeeded(self, username: str, address: str) -> None:
        """The password was right: this attempt was no guess, the owner's own typos are forgiven, and
        the address is known from now on."""
        for key, _ in await self._keys(username, address):
            await self._limiter.undo(key)
        await self._limiter.reset(_pair_prefix(username) + address)
        known = _known_key(username, address)
        await self._limiter.reset(known)
        await self._limiter.hit(known, 1, _KNOWN_WINDOW)

    async def not_checked(self, username: str, address: str) -> None:
        """The attempt was admitted but its password never checked (the hub was busy)."""
        for key, _ in await self._keys(username, address):
            await self._limiter.undo(key)

    async def failures(self, username: str) -> int:
        """Attempts counted against the account from all addresses in the current window (failed
        ones, and those refused for being over a limit)."""
        return await self._limiter.count(_account_key(username))

    async def locked(self, username: str) -> bool:
        """Whether logins to the account are refused from every address it has not logged in from."""
        return await self.failures(username) >= self._limits.per_account

    async def unlock(self, username: str) -> None:
        """An admin lifts every limit on the account (not those on the guessers' addresses)."""
        await self._limiter.reset(_account_key(username))
        await self._limiter.reset_prefix(_pair_prefix(username))
