"""Ack statistics: latency percentiles, results by code, client-side errors, a per-second timeline
and the one-second windows of that timeline whose tail was slow.

Only final acks count as scans: an ack with `retry: true` recorded nothing, so it counts as an error
and its operation's latency runs on until the resend is acked.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from typing import Any

from loadtest.scanner import Ack


def percentile(ordered: list[float] | array[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence; 0.0 when it is empty."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Recorder:
    """Everything the scanners report, for the live progress, the summary and the JSON."""

    def __init__(self) -> None:
        self.latencies: array[float] = array("d")
        self.codes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.replays = 0
        self.start = 0.0
        self.end = math.inf
        self.acked_in_window = 0
        self.ok_in_window = 0
        self.timeline: list[dict[str, Any]] = []
        self._interval: list[float] = []
        self._ticked = 0.0

    def begin(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self._ticked = start

    @property
    def untallied(self) -> int:
        """Final acks since the last tick."""
        return len(self._interval)

    def on_ack(self, ack: Ack) -> None:
        if ack.code != "OK":
            self.errors[ack.code] += 1
        if ack.retry:
            return
        self.codes[ack.code] += 1
        self.replays += ack.replay
        self.latencies.append(ack.latency)
        self._interval.append(ack.latency)
        if ack.at <= self.end:
            self.acked_in_window += 1
            self.ok_in_window += ack.code == "OK"

    def on_error(self, kind: str, count: int = 1) -> None:
        self.errors[kind] += count

    def tick(self, now: float, outstanding: int) -> dict[str, Any]:
        """Close the progress interval since the last tick: its acks, rate and latencies."""
        window = sorted(self._interval)
        self._interval = []
        seconds = max(now - self._ticked, 1e-6)
        self._ticked = now
        point = {"t": round(now - self.start, 1), "acks": len(window),
                 "per_s": round(len(window) / seconds, 1), "p50_ms": ms(percentile(window, 0.5)),
                 "p99_ms": ms(percentile(window, 0.99)), "max_ms": ms(window[-1]) if window else 0.0,
                 "outstanding": outstanding,
                 "errors": sum(self.errors.values())}
        self.timeline.append(point)
        return point

    def summary(self, duration: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        acked = len(ordered)
        return {
            "acked": acked,
            "scans_in_window": self.acked_in_window,
            "scans_per_s": round(self.acked_in_window / duration, 1),
            "ok_per_s": round(self.ok_in_window / duration, 1),
            "ack_p50_ms": ms(percentile(ordered, 0.50)),
            "ack_p95_ms": ms(percentile(ordered, 0.95)),
            "ack_p99_ms": ms(percentile(ordered, 0.99)),
            "ack_max_ms": ms(ordered[-1]) if ordered else 0.0,
            "acks_by_code": dict(self.codes.most_common()),
            "replays": self.replays,
            "errors": dict(self.errors.most_common()),
        }


SLOW_SECOND_MS = 25.0
"""A one-second window whose ack p99 is above this is a stall (issue 10: "no window over 25 ms")."""


def slow_seconds(timeline: list[dict[str, Any]], limit_ms: float = SLOW_SECOND_MS) -> dict[str, Any]:
    """The worst one-second window's p99 and how many windows had a p99 over `limit_ms`.

    Windows without a single ack (a connection pause, the end of a drain) have no p99 and count as neither.
    """
    p99s = [point["p99_ms"] for point in timeline if point["acks"]]
    return {"seconds": len(p99s), "worst_second_p99_ms": max(p99s, default=0.0),
            "seconds_over_limit": sum(p99 > limit_ms for p99 in p99s), "second_limit_ms": limit_ms}
