"""The targets of issue 10, each a bound on one figure of one suite scenario, judged met or missed.

A missed target is reported beside the figure, never left out. The targets speak of the full-size
scenarios (60 s, full load); a shortened or scaled-down run is judged all the same and says so.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMPARE: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    scenario: str
    figure: str
    op: str
    bound: float
    text: str

    def judge(self, figures: dict[str, Any]) -> str:
        """'met', 'missed', or 'not measured' when the scenario did not run or lacks the figure."""
        value = figures.get(self.figure)
        if value is None:
            return "not measured"
        return "met" if COMPARE[self.op](value, self.bound) else "missed"


def _no_stalls(scenario: str) -> list[Target]:
    return [
        Target(scenario, "ack_p99_ms", "<", 15, "ack p99 under 15 ms"),
        Target(scenario, "seconds_over_limit", "<=", 0, "no one-second window with p99 over 25 ms"),
        Target(scenario, "ack_max_ms", "<", 100, "ack max under 100 ms"),
    ]


TARGETS: tuple[Target, ...] = (
    *_no_stalls("open-1000"),
    *_no_stalls("open-2000"),
    Target("open-2000", "hub_cpu_us_per_scan", "<=", 120, "hub CPU per scan at most 120 µs"),
    Target("open-2000", "postgres_cpu_us_per_scan", "<=", 100, "PostgreSQL CPU per scan at most 100 µs"),
    Target("saturated", "echo_ratio", ">=", 0.30, "saturated throughput at least 30 % of the echo"),
    Target("saturated", "echo_ratio", ">=", 0.50, "the goal beyond it: 50 % of the echo"),
    Target("saturated", "lost", "<=", 0, "0 lost"),
    Target("saturated", "duplicated", "<=", 0, "0 duplicated"),
    Target("dashboards", "dashboard_lag_p99_ms", "<", 100, "dashboard lag p99 under 100 ms"),
    Target("dashboards", "ack_p99_ms", "<", 50, "ack p99 under 50 ms in the same run"),
)


def judge_all(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target with the figure this run measured and its verdict."""
    rows = []
    for target in TARGETS:
        figures = scenarios.get(target.scenario, {})
        rows.append({"scenario": target.scenario, "target": target.text, "figure": target.figure,
                     "bound": f"{target.op} {target.bound:g}", "value": figures.get(target.figure),
                     "verdict": target.judge(figures)})
    return rows
