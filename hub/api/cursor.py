"""The opaque `after` cursor of the list endpoints: the last row's sort key, base64url-encoded JSON.

A cursor names the list it came from and holds only a position (a time and an id, or a code), never
a filter or a right: the filters travel as query parameters each time and area confinement is applied
to them, so an edited cursor can move a reader within what they may see and nowhere else. Anything
that does not decode to a key of the expected list's shape is `INVALID_CURSOR`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from datetime import datetime

from hub.api.errors import ApiError
from hub.codes import ApiCode
from hub.domain.text import text_problem
from hub.domain.times import storable
from hub.store.keyset import Key

MAX_CURSOR = 400
MAX_ID = 2**63 - 1


class Order(enum.StrEnum):
    """The sort of a list, named in its cursors."""

    BAGS = "bags"
    BAG_CODES = "bag-codes"
    BILLS = "bills"
    SCANS = "scans"
    AUDIT = "audit"
    RETURNS = "returns"

    @property
    def by_code(self) -> bool:
        return self is Order.BAG_CODES


def encode(order: Order, key: Key | None) -> str | None:
    """The cursor for the rows after `key`, None when there are none."""
    if key is None:
        return None
    values = [key[0]] if order.by_code else [key[0].isoformat(), key[1]]  # type: ignore[union-attr, misc]
    raw = json.dumps([order.value, *values], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad() -> ApiError:
    return ApiError(ApiCode.INVALID_CURSOR)


def decode(order: Order, cursor: str) -> Key:
    """The key a cursor of the list `order` holds, or ApiError INVALID_CURSOR."""
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise _bad()
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _bad() from None
    if not isinstance(value, list) or not value or value[0] != order.value:
        raise _bad()
    if order.by_code:
        if len(value) != 2 or not isinstance(value[1], str) or not value[1] or text_problem(value[1], MAX_CURSOR):
            raise _bad()
        return (value[1],)
    if len(value) != 3 or not isinstance(value[1], str) or type(value[2]) is not int or not 0 < value[2] <= MAX_ID:
        raise _bad()
    try:
        at = datetime.fromisoformat(value[1])
    except ValueError:
        raise _bad() from None
    utc = storable(at)
    if utc is None:
        raise _bad()
    return (utc, value[2])
