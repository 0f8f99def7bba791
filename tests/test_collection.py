"""The hub's garbage-collection policy applies while a hub runs and is undone after the last."""

from __future__ import annotations

import gc
import threading

from hub import metrics
from hub.collection import THRESHOLDS, collection_policy


async def test_the_policy_freezes_startup_raises_the_young_threshold_and_the_last_hub_undoes_it() -> None:
    before = gc.get_threshold()
    startup = [object() for _ in range(10)], {"kept": [1, 2]}
    async with collection_policy():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert not any(obj is startup for obj in gc.get_objects())  # frozen: no longer walked
        async with collection_policy():  # a second hub in the same process
            pass
        assert gc.get_threshold() == THRESHOLDS and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert any(obj is startup for obj in gc.get_objects())


def test_a_collection_while_the_metric_s_lock_is_held_does_not_wait_for_it() -> None:
    """The callback only notes the pause; taking the metric's lock inside a collection that began
    under it would deadlock the process."""
    pauses = metrics.GcPauses()
    gc.callbacks.append(pauses)
    done = threading.Event()
    try:
        lock = metrics.GC_PAUSE._lock  # the lock `labels` takes, and a scrape holds while it copies the children

        def collect_under_the_lock() -> None:
            with lock:
                gc.collect()
            done.set()

        worker = threading.Thread(target=collect_under_the_lock, daemon=True)
        worker.start()
        assert done.wait(10), "the collection waited for the metric's lock"
    finally:
        gc.callbacks.remove(pauses)
    before = metrics.GC_PAUSE.labels("2")._sum.get()
    pauses.record()
    assert metrics.GC_PAUSE.labels("2")._sum.get() > before
