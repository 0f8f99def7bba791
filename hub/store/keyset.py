"""Keyset pagination: a page of rows and the sort key of its last row, and a WHERE clause builder.

A list query orders by a unique key (newest first: `(time, id)` descending; or a code ascending) and
asks for the rows after the last key it returned, so page 10,000 costs what page 1 costs: one index
range, never an OFFSET. The list functions of `hub.store` take `after` (None for the first page) and
`limit` and return a `Page`; calling them again with `after=page.next` until `next` is None walks the
whole filter in chunks (how the exports read 10 million rows without holding them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hub.domain.filters import TimeRange

TimeKey = tuple[datetime, int]
"""Where a newest-first list stopped: the last row's time and id."""
CodeKey = tuple[str]
"""Where a code-ordered list stopped: the last row's code."""
Key = TimeKey | CodeKey


def time_key(key: Key | None) -> TimeKey | None:
    """`key` as a newest-first key; a code key here is a caller's mistake (ValueError)."""
    if key is None or len(key) == 2:
        return key
    raise ValueError("a code-ordered key given to a newest-first list")


def code_key(key: Key | None) -> CodeKey | None:
    """`key` as a code-ordered key; a time key here is a caller's mistake (ValueError)."""
    if key is None or len(key) == 1:
        return key
    raise ValueError("a newest-first key given to a code-ordered list")


@dataclass(frozen=True)
class Page:
    """Up to `limit` rows; `next` is the key to pass as `after` for the rows that follow, None at the end."""

    rows: list[asyncpg.Record]
    next: Key | None


class Query:
    """WHERE clauses with numbered parameters, built up one condition at a time."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.conditions: list[str] = []

    def arg(self, value: Any) -> str:
        """A placeholder for `value`."""
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, condition: str) -> None:
        self.conditions.append(condition)

    def during(self, column: str, span: TimeRange) -> None:
        if span.start is not None:
            self.where(f"{column} >= {self.arg(span.start)}")
        if span.end is not None:
            self.where(f"{column} < {self.arg(span.end)}")

    def before(self, time_column: str, id_column: str, after: TimeKey | None) -> None:
        """Rows after `after` in newest-first order (the row comparison is one index range)."""
        if after is not None:
            time, row_id = after
            self.where(f"({time_column}, {id_column}) < ({self.arg(time)}, {self.arg(row_id)})")

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions) or "true"


async def fetch_page(db: Any, sql: str, query: Query, limit: int, key: Any, timeout: float) -> Page:
    """Run a list query (which must end with its ORDER BY) for `limit` rows plus one, to know if more follow.

    The limit is written into the SQL, not passed as a parameter, so that a prepared statement's
    generic plan is costed for a page, not for a guessed share of the table."""
    rows = await db.fetch(f"{sql} LIMIT {int(limit) + 1}", *query.args, timeout=timeout)
    if len(rows) <= limit:
        return Page(list(rows), None)
    return Page(list(rows[:limit]), key(rows[limit - 1]))


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` in code point order (None: none)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            following = last + 1 if last + 1 != 0xD800 else 0xE000
            return "".join(chars) + chr(following)
    return None
