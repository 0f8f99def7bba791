"""The bag cache's precheck: what it rejects at the edge, and what it tells whom."""

from __future__ import annotations

import gc

from hub.cache import BagCache
from hub.codes import Code
from hub.domain import rules
from hub.domain.rules import Actor, Bag, Role

DISPATCHER = Actor(1, "disp", Role.DISPATCHER, "lucknow")
ADMIN = Actor(2, "root", Role.ADMIN, None)


def test_a_scan_into_a_known_parent_of_another_area_is_rejected_without_naming_that_area() -> None:
    cache = BagCache(10)
    cache.update([Bag("SB00001", "P", "indore"), Bag("SB00002", "P", "lucknow")])
    refused = cache.precheck(DISPATCHER, rules.ScanChild("CHILD0001", "SB00001"))
    assert refused is not None and refused.code is Code.WRONG_AREA
    assert "area" not in refused.data  # a dispatcher learns it is not theirs, never where it is
    assert cache.precheck(DISPATCHER, rules.ScanChild("CHILD0001", "SB00002")) is None
    assert cache.precheck(DISPATCHER, rules.AddToBill("B-1", "SB00001")) == refused
    assert cache.precheck(ADMIN, rules.ScanChild("CHILD0001", "SB00001")) is None


def test_children_are_not_cached_and_unknown_or_forgotten_parents_are_left_to_the_writer() -> None:
    cache = BagCache(10)
    cache.update([Bag("CHILD0001", "C", "indore"), Bag("SB00001", "P", "indore")])
    assert len(cache) == 1
    assert cache.precheck(DISPATCHER, rules.ScanChild("CHILD0002", "CHILD0001")) is None
    cache.forget(["SB00001"])
    assert cache.precheck(DISPATCHER, rules.ScanChild("CHILD0002", "SB00001")) is None


def test_the_least_recently_used_parent_goes_first_and_a_reassignment_replaces_the_area() -> None:
    cache = BagCache(2)
    cache.update([Bag("SB00001", "P", "indore"), Bag("SB00002", "P", "indore")])
    assert cache.area("SB00001") == "indore"  # now the most recently used
    cache.update([Bag("SB00003", "P", "indore")])
    assert (cache.area("SB00001"), cache.area("SB00002"), cache.area("SB00003")) == ("indore", None, "indore")
    cache.update([Bag("SB00001", "P", "lucknow")])
    assert cache.area("SB00001") == "lucknow"


def test_a_full_cache_holds_nothing_the_garbage_collector_tracks() -> None:
    cache = BagCache(1000)
    cache.update(Bag(f"SB{n:05d}", "P", f"area-{n % 7}") for n in range(1000))
    tracked = {id(obj) for obj in gc.get_objects()}
    assert id(cache._areas) in tracked
    assert not any(id(value) in tracked for item in cache._areas.items() for value in item)
