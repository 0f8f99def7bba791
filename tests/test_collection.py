"""The hub's garbage-collection policy applies for the hub's lifetime and is undone after it."""

from __future__ import annotations

import gc

from hub.collection import THRESHOLDS, collection_policy


def test_the_policy_freezes_startup_raises_the_young_threshold_and_is_undone_after() -> None:
    before = gc.get_threshold()
    startup = [object() for _ in range(10)], {"kept": [1, 2]}
    with collection_policy():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert not any(obj is startup for obj in gc.get_objects())  # frozen: no longer walked
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert any(obj is startup for obj in gc.get_objects())
