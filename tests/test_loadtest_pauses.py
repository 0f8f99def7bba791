"""The load generator makes no full collection while a window is timed (loadtest/pauses.py): its
pause would be counted as the hub's latency."""

from __future__ import annotations

import gc
from typing import Any

from loadtest.pauses import no_full_collections


def test_only_young_collections_run_while_a_window_is_timed_and_the_thresholds_come_back() -> None:
    before = gc.get_threshold()
    generations: list[int] = []

    def heard(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    with no_full_collections():
        gc.callbacks.append(heard)
        try:
            kept = []
            for n in range(before[0] * before[1] * before[2] * 3):  # thrice what brings a full one
                cycle: list[Any] = [n]
                cycle.append(cycle)
                if n % 1000 == 0:
                    kept.append(cycle)
        finally:
            gc.callbacks.remove(heard)
    assert generations and 2 not in generations, generations
    assert 1 in generations
    assert gc.get_threshold() == before
