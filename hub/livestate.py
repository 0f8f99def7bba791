"""What the dashboards show, kept exact: a snapshot read at commit seq S, then each batch S+1, S+2 ...

Pure: no I/O. The counters move only by the per-scan deltas that the batch transaction also added to
`scan_stats`, so at every seq they equal what SQL counts.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from hub.domain.bagcodes import is_bill_code, normalise

AREA_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")
"""The syntax of a dispatch area's name (the areas table checks the same)."""
FIELDS = ("accepted", "rejected", "children_linked", "parents_completed", "bills_completed")
RECENT_EVENTS = 50
MINUTES_SHOWN = 60
IN_PROGRESS_SHOWN = 200


@dataclass(frozen=True)
class Scope:
    """What one dashboard follows: everything, one dispatch area, or one bill."""

    kind: str  # "all" | "area" | "bill"
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope:
        """'all', 'area:NAME' (an area's name) or 'bill:CODE' (a bill number); ValueError otherwise,
        before anything is looked up."""
        if text == "all":
            return cls("all")
        kind, _, value = text.partition(":")
        if kind == "area" and AREA_NAME.fullmatch(value):
            return cls(kind, value)
        if kind == "bill" and is_bill_code(normalise(value)):
            return cls(kind, normalise(value))
        raise ValueError("scope must be 'all', 'area:NAME' or 'bill:CODE'")

    def __str__(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}:{self.value}"

    def sees_area(self, area: str) -> bool:
        return self.kind == "all" or (self.kind == "area" and self.value == area)

    def sees_event(self, event: dict[str, Any]) -> bool:
        if self.kind == "bill":
            return self.value in (event["code"], event["target"])
        return self.sees_area(event["area"])

    def sees_bill(self, bill: dict[str, Any]) -> bool:
        return self.value == bill["code"] if self.kind == "bill" else self.sees_area(bill["area"])


def _counts(values: list[int]) -> dict[str, int]:
    return dict(zip(FIELDS, values))


class _Visible(dict[str, bool]):
    """Whether a scope sees each area, worked out once per area: a delta or a snapshot asks it of every
    event, scanner, minute and parent, and a lookup here costs less than a call of `sees_area`."""

    def __init__(self, scope: Scope) -> None:
        super().__init__()
        self._scope = scope

    def __missing__(self, area: str) -> bool:
        seen = self[area] = self._scope.sees_area(area)
        return seen


def _events_seen(events: Iterable[dict[str, Any]], scope: Scope, visible: _Visible) -> list[dict[str, Any]]:
    if scope.kind == "bill":
        return [e for e in events if scope.sees_event(e)]
    return [e for e in events if visible[e["area"]]]


@dataclass
class Change:
    """What batches `first` to `seq` changed, for building each scope's one delta covering them."""

    first: int
    seq: int
    areas: set[str] = field(default_factory=set)
    devices: set[tuple[str, str]] = field(default_factory=set)
    minutes: set[tuple[int, str]] = field(default_factory=set)
    parents: list[dict[str, Any]] = field(default_factory=list)
    bills: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def absorb(self, later: Change) -> None:
        """Take in the change of the batches right after these: a parent or bill changed in both is
        sent once, as it is after `later`; the events of both are kept, in order."""
        assert later.first == self.seq + 1, "changes are absorbed in commit order"
        self.seq = later.seq
        self.areas |= later.areas
        self.devices |= later.devices
        self.minutes |= later.minutes
        self.parents = _latest(self.parents + later.parents)
        self.bills = _latest(self.bills + later.bills)
        self.events += later.events


def _latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per code, the last one given (in the place of the first)."""
    return list({row["code"]: row for row in rows}.values())


@dataclass
class LiveState:
    seq: int
    day: date
    tz: tzinfo
    areas: dict[str, list[int]] = field(default_factory=dict)
    # device -> {"user": str, "areas": {area: counts}}: a device's scans are counted in the area
    # each scan counts in, so an area's dashboard shows only that area's share of a device.
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    minutes: dict[tuple[int, str], int] = field(default_factory=dict)
    parents: dict[str, dict[str, Any]] = field(default_factory=dict)
    bills: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    names: dict[str, str] = field(default_factory=dict)
    """device -> the name an admin gave it (only named devices), shown instead of the id."""

    def apply(self, batch: dict[str, Any]) -> Change:
        """Move the state from seq S to S+1 with one committed batch (a broker publication)."""
        assert batch["seq"] == self.seq + 1, "batches are applied in commit order"
        self.seq = batch["seq"]
        change = Change(first=self.seq, seq=self.seq)
        at = float(batch["at"])
        day = datetime.fromtimestamp(at, self.tz).date()
        if day > self.day:
            self.day = day
            self.areas.clear()
            self.devices.clear()
        # Batches come in commit order, but each is stamped when its hub began it: just after
        # midnight the next batch may still carry yesterday's time. Like its scan_stats rows, it
        # then counts for yesterday, not today (and must not turn the day back).
        today = day == self.day
        minute = int(at // 60 * 60)
        for event in batch["events"]:
            area, delta = event["area"], event["stats"]
            if today:
                self._count(change, event, area, delta)
            # A correction takes back (or moves to another area) what an earlier minute counted:
            # today's counters follow when that minute was today.
            for shift_area, shift_minute, shift_delta in event.get("shifts", ()):
                if datetime.fromtimestamp(float(shift_minute), self.tz).date() == self.day:
                    self._count(change, event, shift_area, shift_delta)
            self.minutes[(minute, area)] = self.minutes.get((minute, area), 0) + delta[0] + delta[1]
            change.minutes.add((minute, area))
            event = {**event, "at": at}
            self.events.append(event)
            change.events.append(event)
        for stale in [key for key in self.minutes if key[0] <= minute - MINUTES_SHOWN * 60]:
            del self.minutes[stale]
        for parent in batch["parents"]:
            change.parents += self._track(self.parents, parent, 0 < parent["count"] < parent["capacity"])
        for bill in batch["bills"]:
            change.bills += self._track(self.bills, bill, bill["status"] == "open")
        return change

    def _count(self, change: Change, event: dict[str, Any], area: str, delta: list[int]) -> None:
        device = event["device"]
        totals = self.areas.setdefault(area, [0] * len(FIELDS))
        scanner = self.devices.setdefault(device, {"user": event["user"], "areas": {}})
        scanner["user"] = event["user"]
        counts = scanner["areas"].setdefault(area, [0] * len(FIELDS))
        for i, value in enumerate(delta):
            totals[i] += value
            counts[i] += value
        change.areas.add(area)
        change.devices.add((device, area))

    @staticmethod
    def _track(table: dict[str, dict[str, Any]], item: dict[str, Any],
               in_progress: bool) -> list[dict[str, Any]]:
        """Keep `item` listed while in progress, the IN_PROGRESS_SHOWN last changed at most; what a
        dashboard must hear of: the item, and each one the list dropped (`dropped: true`), so that a
        view kept from deltas lists what a fresh snapshot lists."""
        table.pop(item["code"], None)
        changed = [item]
        if in_progress:
            table[item["code"]] = item
            while len(table) > IN_PROGRESS_SHOWN:
                changed.append({**table.pop(next(iter(table))), "dropped": True})
        return changed

    def _scope_counts(self, visible: _Visible) -> dict[str, int]:
        seen = [values for area, values in self.areas.items() if visible[area]]
        return _counts([sum(column) for column in zip(*seen)] if seen else [0] * len(FIELDS))

    def _per_minute(self, visible: _Visible, minutes: set[int] | None = None) -> list[list[int]]:
        """[minute (epoch seconds), scans] for the scope: all minutes kept, or just `minutes`."""
        by_minute: dict[int, int] = {}
        for (minute, area), count in self.minutes.items():
            if (minutes is None or minute in minutes) and visible[area]:
                by_minute[minute] = by_minute.get(minute, 0) + count
        return [[minute, count] for minute, count in sorted(by_minute.items())]

    def _scanner(self, device: str, visible: _Visible) -> dict[str, Any] | None:
        """The device's counters in the areas the scope sees (None if it scanned in none of them);
        its `area` is the one of those where it scanned most."""
        entry = self.devices[device]
        seen = [(area, counts) for area, counts in entry["areas"].items() if visible[area]]
        if not seen:
            return None
        if len(seen) == 1:  # most devices scan in one area: its counters as they are
            area, totals = seen[0]
        else:
            area = min(seen, key=lambda item: (-item[1][0] - item[1][1], item[0]))[0]
            totals = [sum(column) for column in zip(*(counts for _, counts in seen))]
        return {"device": device, "user": entry["user"], "area": area, **_counts(totals)}

    def _scanners(self, devices: Iterable[str], visible: _Visible) -> list[dict[str, Any]]:
        return [s for d in devices if (s := self._scanner(d, visible)) is not None]

    def snapshot(self, scope: Scope) -> dict[str, Any]:
        """Everything a dashboard of `scope` shows, at this seq."""
        visible = _Visible(scope)
        if scope.kind == "bill":
            bill = self.bills.get(scope.value)
            return {"t": "snapshot", "seq": self.seq, "scope": str(scope), "bills": [bill] if bill else [],
                    "events": _events_seen(self.events, scope, visible)}
        return {
            "t": "snapshot", "seq": self.seq, "scope": str(scope), "day": self.day.isoformat(),
            "counters": self._scope_counts(visible),
            "areas": {a: _counts(v) for a, v in self.areas.items() if visible[a]},
            "scanners": self._scanners(self.devices, visible),
            "per_minute": self._per_minute(visible),
            "parents": [p for p in self.parents.values() if visible[p["area"]]],
            "bills": [b for b in self.bills.values() if scope.sees_bill(b)],
            "events": _events_seen(self.events, scope, visible),
        }

    def delta(self, change: Change, scope: Scope) -> dict[str, Any]:
        """What batches `change.first` to `change.seq` changed for `scope` (possibly nothing but the seqs)."""
        delta: dict[str, Any] = {"t": "delta", "from": change.first, "seq": change.seq}
        visible = _Visible(scope)
        events = _events_seen(change.events, scope, visible)
        bills = [b for b in change.bills if scope.sees_bill(b)]
        if scope.kind != "bill":
            areas = [a for a in change.areas if visible[a]]
            if areas:
                delta["counters"] = self._scope_counts(visible)
                delta["areas"] = {a: _counts(self.areas[a]) for a in areas}
                delta["scanners"] = self._scanners(sorted({d for d, area in change.devices if visible[area]}),
                                                   visible)
            minutes = {minute for minute, area in change.minutes if visible[area]}
            if minutes:
                delta["per_minute"] = self._per_minute(visible, minutes)
            parents = [p for p in change.parents if visible[p["area"]]]
            if parents:
                delta["parents"] = parents
        if bills:
            delta["bills"] = bills
        if events:
            delta["events"] = events
        return delta
