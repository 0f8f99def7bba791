"""Query parameters -> the filters of the list endpoints (and of the exports, which reuse them).

One reading for every list: a parameter given empty is absent (a form's blank field), given twice or
unknown is an error, and a bad value is `INVALID_FILTER` with a message naming the parameter. A
non-admin is confined to their own dispatch area: without `area` the filter is their area, naming
another is 403 FORBIDDEN. Dates: `from` and `to` take an ISO date or date-time; a date is a day in
the hub's TIMEZONE (`to` then includes that day), a date-time without an offset is read in TIMEZONE,
and a date-time `to` is excluded.

Each reader hands back its filter with the parameters as it read them (`Reading`): a prefix normalised
like a scanned code, a user name lower-cased, an empty one left out. What records a request's filters
(an export's audit) records those, so how a parameter is read is known here only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Generic, Protocol, TypeVar

from hub.accounts import USERNAME
from hub.api import cursor
from hub.api.cursor import Order
from hub.api.errors import ApiError
from hub.codes import ApiCode
from hub.domain.bagcodes import normalise
from hub.domain.filters import (
    AuditFilter,
    BagFilter,
    BagKind,
    BagStatus,
    BillFilter,
    BillStatus,
    ReturnFilter,
    ReturnStatus,
    ScanFilter,
    TimeRange,
)
from hub.domain.rules import Actor, Role
from hub.domain.text import text_problem
from hub.domain.times import storable
from hub.protocol import DEVICE_PATTERN
from hub.store.keyset import Key

__all__ = ["AuditFilter", "BagFilter", "BillFilter", "Page", "Reading", "ReturnFilter", "ScanFilter", "audit_filter",
           "bag_filter", "bill_filter", "page", "return_filter", "scan_filter"]

AREA = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
PAGE_PARAMS = ("limit", "after")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CODE = 40
MAX_TEXT = 200


class QueryParams(Protocol):
    """What is read of a request's query string (Starlette's `QueryParams` is one)."""

    def getlist(self, key: str) -> list[str]: ...

    def keys(self) -> Collection[str]: ...


def _invalid(name: str, problem: str) -> ApiError:
    return ApiError(ApiCode.INVALID_FILTER, f"The parameter {name!r} {problem}.")


F = TypeVar("F")


@dataclass(frozen=True)
class Reading(Generic[F]):
    """A list's filter and its parameters as `_read` read them: what records a request's filters (an
    export's audit) records, never the raw query, which may hold what the filter dropped."""

    filter: F
    params: Mapping[str, str]


def _text(name: str, raw: str) -> str:
    problem = text_problem(raw, MAX_TEXT)
    if problem is not None:
        raise _invalid(name, problem)
    return raw


def _prefix(name: str, raw: str) -> str:
    """Normalised like a scanned code, which drops what is not printable (empty: no prefix)."""
    prefix = normalise(raw[:MAX_TEXT])
    if len(prefix) > MAX_CODE:
        raise _invalid(name, f"is longer than a bag code ({MAX_CODE} characters)")
    return prefix


def _username(name: str, raw: str) -> str:
    user = _text(name, raw).lower()
    if not USERNAME.match(user):
        raise _invalid(name, "is not a user name")
    return user


READERS: dict[str, Callable[[str, str], str]] = {"prefix": _prefix, "user": _username, "actor": _username}
"""How a parameter's value is read, where it is more than printable text."""


def _read(params: QueryParams, names: Sequence[str], extra: Collection[str]) -> dict[str, str]:
    """The non-empty parameters among `names`, each as READERS reads it; any other parameter (beyond
    `extra`) is an error."""
    for name in params.keys():
        if name not in names and name not in extra:
            raise _invalid(name[:40], f"is not a filter of this list (use {', '.join(names)})")
    found: dict[str, str] = {}
    for name in names:
        values = [v for v in params.getlist(name) if v != ""]
        if len(values) > 1:
            raise _invalid(name, "is given more than once")
        value = READERS.get(name, _text)(name, values[0]) if values else ""
        if value != "":  # a prefix of only what normalising drops is no prefix
            found[name] = value
    return found


E = TypeVar("E", BagKind, BagStatus, BillStatus, ReturnStatus)


def _choice(values: Mapping[str, str], name: str, kind: type[E]) -> E | None:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise _invalid(name, f"must be one of {', '.join(m.value for m in kind)}") from None


def _area(values: Mapping[str, str], actor: Actor) -> str | None:
    """The area the list covers: the actor's own for a non-admin (another one is FORBIDDEN)."""
    area = values.get("area")
    if area is not None and not AREA.match(area):
        raise _invalid("area", "is not a dispatch area name")
    if actor.role is Role.ADMIN:
        return area
    if area is not None and area != actor.area:
        raise ApiError(ApiCode.FORBIDDEN, "You may list only your own dispatch area.")
    return actor.area


def _instant(values: Mapping[str, str], name: str, zone: tzinfo, day_end: bool) -> datetime | None:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            at = datetime.combine(day + timedelta(days=1) if day_end else day, time(), zone)
        else:
            at = datetime.fromisoformat(raw)
    except (ValueError, OverflowError):
        raise _invalid(name, "is not an ISO date (2026-12-01) or date-time (2026-12-01T08:30:00+05:30)") from None
    utc = storable(at if at.tzinfo is not None else at.replace(tzinfo=zone))
    if utc is None:
        raise _invalid(name, "is outside the years 1 to 9999 in UTC")
    return utc


def _span(values: Mapping[str, str], zone: tzinfo) -> TimeRange:
    return TimeRange(_instant(values, "from", zone, False), _instant(values, "to", zone, True))


def bag_filter(params: QueryParams, actor: Actor, zone: tzinfo,
               extra: Collection[str] = PAGE_PARAMS) -> Reading[BagFilter]:
    """`prefix`, `kind`, `area`, `status`, `from`, `to` -> BagFilter."""
    values = _read(params, ("prefix", "kind", "area", "status", "from", "to"), extra)
    kind = _choice(values, "kind", BagKind)
    status = _choice(values, "status", BagStatus)
    if kind is not None and status is not None and status.kind is not kind:
        raise _invalid("status", f"{status.value!r} is not a status of a {kind.value} bag")
    return Reading(BagFilter(prefix=values.get("prefix"), kind=kind, area=_area(values, actor), status=status,
                             created=_span(values, zone)), values)


def bill_filter(params: QueryParams, actor: Actor, zone: tzinfo,
                extra: Collection[str] = PAGE_PARAMS) -> Reading[BillFilter]:
    """`status`, `area`, `q` (text in destination or vehicle), `from`, `to` -> BillFilter."""
    values = _read(params, ("status", "area", "q", "from", "to"), extra)
    return Reading(BillFilter(status=_choice(values, "status", BillStatus), area=_area(values, actor),
                              text=values.get("q"), created=_span(values, zone)), values)


def scan_filter(params: QueryParams, actor: Actor, zone: tzinfo,
                extra: Collection[str] = PAGE_PARAMS) -> Reading[ScanFilter]:
    """`result` (all or rejected), `user`, `device`, `area`, `from`, `to` -> ScanFilter."""
    values = _read(params, ("result", "user", "device", "area", "from", "to"), extra)
    result = values.get("result", "all")
    if result not in ("all", "rejected"):
        raise _invalid("result", "must be all or rejected")
    device = values.get("device")
    if device is not None and not DEVICE_PATTERN.match(device):
        raise _invalid("device", "is not a device id (1-64 characters of A-Z a-z 0-9 . _ : -)")
    return Reading(ScanFilter(rejected_only=result == "rejected", user=values.get("user"), device=device,
                              area=_area(values, actor), at=_span(values, zone)), values)


def audit_filter(params: QueryParams, zone: tzinfo, extra: Collection[str] = PAGE_PARAMS) -> Reading[AuditFilter]:
    """`action`, `actor`, `target`, `from`, `to` -> AuditFilter (the audit log is for admins only)."""
    values = _read(params, ("action", "actor", "target", "from", "to"), extra)
    return Reading(AuditFilter(action=values.get("action"), actor=values.get("actor"), target=values.get("target"),
                               at=_span(values, zone)), values)


def return_filter(params: QueryParams, actor: Actor, extra: Collection[str] = PAGE_PARAMS) -> Reading[ReturnFilter]:
    """`area`, `status` (open, finalised, cancelled) -> ReturnFilter."""
    values = _read(params, ("area", "status"), extra)
    return Reading(ReturnFilter(area=_area(values, actor), status=_choice(values, "status", ReturnStatus)), values)


@dataclass(frozen=True)
class Page:
    """Which page of a list: the rows after `after` (None: from the start), at most `limit`."""

    after: Key | None
    limit: int


def page(params: QueryParams, order: Order) -> Page:
    """`limit` (1-200, default 50) and `after` (a cursor of the list `order`)."""
    values = {name: v for name in PAGE_PARAMS for v in params.getlist(name)[-1:] if v != ""}
    for name in PAGE_PARAMS:
        if len(params.getlist(name)) > 1:
            raise _invalid(name, "is given more than once")
    raw_limit = values.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit[:4]) <= MAX_LIMIT
            and len(raw_limit) <= 3):
        raise _invalid("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    after = values.get("after")
    return Page(after=cursor.decode(order, after) if after is not None else None, limit=int(raw_limit))
