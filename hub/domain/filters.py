"""What a list asks for: the filters of the bags, bills, scans, audit and returns lists, as plain values.

`hub.api.filters` builds them from query parameters (and confines a non-admin to their area);
`hub.store` turns them into SQL. The exports iterate the same filters, so a filter means the same
rows in a list page and in a file.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class BagKind(enum.StrEnum):
    PARENT = "parent"
    CHILD = "child"

    @property
    def letter(self) -> str:
        """The kind as `bags.kind` stores it."""
        return "P" if self is BagKind.PARENT else "C"


class BagStatus(enum.StrEnum):
    """Where a bag stands. Parents: empty, filling, complete (full, on no bill), on_bill; children:
    loose or in_parent."""

    EMPTY = "empty"
    FILLING = "filling"
    COMPLETE = "complete"
    ON_BILL = "on_bill"
    LOOSE = "loose"
    IN_PARENT = "in_parent"

    @property
    def kind(self) -> BagKind:
        """The only kind of bag that can be in this status."""
        return BagKind.CHILD if self in (BagStatus.LOOSE, BagStatus.IN_PARENT) else BagKind.PARENT


def parent_status(child_count: int, capacity: int, on_bill: bool) -> BagStatus:
    if on_bill:
        return BagStatus.ON_BILL
    if child_count == 0:
        return BagStatus.EMPTY
    return BagStatus.COMPLETE if child_count >= capacity else BagStatus.FILLING


def bag_status(kind: str, child_count: int, capacity: int | None, on_bill: bool, in_parent: bool) -> BagStatus:
    """The status of a bag row (`kind` as stored: "P" or "C")."""
    if kind == "C":
        return BagStatus.IN_PARENT if in_parent else BagStatus.LOOSE
    return parent_status(child_count, capacity or 0, on_bill)


@dataclass(frozen=True)
class TimeRange:
    """Instants from `start` (included) to `end` (excluded); None leaves that side open."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class BagFilter:
    """Bags by code prefix, kind, area, status and creation time. With a prefix the list runs in code
    order (what the code index serves); without, newest first."""

    prefix: str | None = None
    kind: BagKind | None = None
    area: str | None = None
    status: BagStatus | None = None
    created: TimeRange = TimeRange()


class BillStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


@dataclass(frozen=True)
class BillFilter:
    """Bills by status, area, text in destination or vehicle (case-insensitive), creation time."""

    status: BillStatus | None = None
    area: str | None = None
    text: str | None = None
    created: TimeRange = TimeRange()


@dataclass(frozen=True)
class ScanFilter:
    """Scans by result (rejected only or all), user name, device, area and server time."""

    rejected_only: bool = False
    user: str | None = None
    device: str | None = None
    area: str | None = None
    at: TimeRange = TimeRange()


@dataclass(frozen=True)
class AuditFilter:
    """Audit entries by action, actor's user name, target and time."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    at: TimeRange = TimeRange()


class ReturnStatus(enum.StrEnum):
    OPEN = "open"
    FINALISED = "finalised"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ReturnFilter:
    """Return tickets by area and status."""

    area: str | None = None
    status: ReturnStatus | None = None
