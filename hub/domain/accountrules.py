"""What an admin may change about an account: the rules, with no I/O.

Never no active admin: demoting or deactivating the last active admin is refused (`LAST_ADMIN`).
Never one's own role or one's own deactivation (`OWN_ACCOUNT`): an admin cannot lock themself out
by a slip. Dispatchers and billers keep a dispatch area (`AREA_REQUIRED`). The caller counts the
active admins under a lock (see `hub.accounts.change_user`), so two admins demoted at the same
moment cannot both pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hub.codes import ApiCode
from hub.domain.rules import Role


@dataclass(frozen=True)
class Account:
    """An account as an admin changes it."""

    id: int
    username: str
    role: Role
    area: str | None
    active: bool

    @property
    def active_admin(self) -> bool:
        return self.active and self.role is Role.ADMIN


@dataclass(frozen=True)
class AccountChange:
    """The fields a request changes; `area` counts only when `set_area` (an admin's area may be null)."""

    role: Role | None = None
    area: str | None = None
    set_area: bool = False
    active: bool | None = None

    def applied(self, account: Account) -> Account:
        return replace(account,
                       role=account.role if self.role is None else self.role,
                       area=self.area if self.set_area else account.area,
                       active=account.active if self.active is None else self.active)


def change_problem(actor_id: int, before: Account, after: Account, active_admins: int) -> tuple[ApiCode, str] | None:
    """Why `before` may not become `after` when `actor_id` asks and `active_admins` exist; None if it may."""
    if before.id == actor_id and (after.role is not before.role or not after.active):
        return ApiCode.OWN_ACCOUNT, "You cannot change your own role or deactivate yourself; ask another admin."
    if after.role is not Role.ADMIN and after.area is None:
        return ApiCode.AREA_REQUIRED, f"A {after.role} needs a dispatch area."
    if before.active_admin and not after.active_admin and active_admins <= 1:
        return ApiCode.LAST_ADMIN, f"{before.username} is the last active admin; make another admin first."
    return None


def ends_sessions(before: Account, after: Account) -> bool:
    """A new role, a dispatcher's or biller's new area, or a deactivation ends the user's sessions
    and open websockets.

    An open websocket keeps the rights it was opened with; ending it makes the user log in again
    with the new ones (an admin's area grants nothing, so changing it ends nothing). A deactivated
    account's sessions stay ended when it is reactivated.
    """
    return (before.role is not after.role or (before.area != after.area and after.role is not Role.ADMIN)
            or (before.active and not after.active))
