"""The dashboards' live state, pure: scopes, counters, deltas, the day's rollover, the minute window.

The central property: a client that applies a snapshot and then every delta holds exactly what a
fresh snapshot at the same seq says. The client is `DashboardView` (tests/dashboard_support.py),
written from docs/protocol.md sections 12 and 13 alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.livestate import FIELDS, IN_PROGRESS_SHOWN, RECENT_EVENTS, Change, LiveState, Scope
from tests.dashboard_support import DashboardView

KOLKATA = ZoneInfo("Asia/Kolkata")
# 10:00 in Kolkata on a Saturday; Kolkata's midnight is 18:30 UTC.
T0 = datetime(2025, 3, 1, 4, 30, tzinfo=UTC).timestamp()
ZERO = dict.fromkeys(FIELDS, 0)


# --- builders ----------------------------------------------------------------------------------


def event(device: str, area: str, stats: list[int], *, seq: int = 1, op: str = "child", code: str = "C0001",
          target: str = "SB00001", result: str = "OK", user: str = "ravi") -> dict[str, Any]:
    return {"device": device, "seq": seq, "user": user, "area": area, "op": op, "code": code,
            "target": target, "result": result, "data": {}, "stats": stats}


def batch(seq: int, at: float, events: list[dict[str, Any]] = (), parents: list[dict[str, Any]] = (),
          bills: list[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"origin": "test", "seq": seq, "at": at, "events": list(events), "parents": list(parents),
            "bills": list(bills)}


def parent(code: str, area: str, count: int, capacity: int = 30, bill: str | None = None) -> dict[str, Any]:
    return {"code": code, "area": area, "count": count, "capacity": capacity, "complete": count == capacity,
            "bill": bill}


def bill(code: str, area: str, status: str = "open", count: int = 0) -> dict[str, Any]:
    return {"code": code, "area": area, "count": count, "capacity": 5, "status": status, "destination": "",
            "vehicle": "", "actual_kg": "0", "expected_kg": "0"}


def fresh(seq: int = 0, at: float = T0) -> LiveState:
    return LiveState(seq=seq, day=datetime.fromtimestamp(at, KOLKATA).date(), tz=KOLKATA)


ACCEPT = [1, 0, 0, 0, 0]
REJECT = [0, 1, 0, 0, 0]
LINK = [1, 0, 1, 0, 0]
COMPLETE = [1, 0, 1, 1, 0]
FINISH = [1, 0, 0, 0, 1]


# --- scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("all", "all", ""), ("area:lucknow", "area", "lucknow"), ("bill:b-17", "bill", "B-17"),
    ("area:sri_ganganagar", "area", "sri_ganganagar"), ("bill: b-17\t", "bill", "B-17"),
    ("bill:A\x00B", "bill", "AB"),  # normalised like every code
])
def test_scope_parses_and_prints(text: str, kind: str, value: str) -> None:
    scope = Scope.parse(text)
    assert (scope.kind, scope.value) == (kind, value)
    assert Scope.parse(str(scope)) == scope


@pytest.mark.parametrize("text", ["", "ALL", "area:", "bill:", "area", "zone:lucknow", "lucknow", "all:x",
                                  "area:luck\x00now", "area:Lucknow", "area:" + "a" * 41, "bill:-B1",
                                  "bill:" + "B" * 41, "bill:\ud800"])
def test_scope_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        Scope.parse(text)


def test_scope_visibility() -> None:
    everything, lucknow, bill_scope = Scope.parse("all"), Scope.parse("area:lucknow"), Scope.parse("bill:B1")
    assert everything.sees_area("indore") and everything.sees_area("")
    assert lucknow.sees_area("lucknow") and not lucknow.sees_area("indore") and not lucknow.sees_area("")
    assert not bill_scope.sees_area("lucknow")
    on_bill = event("d", "lucknow", ACCEPT, op="bill_add", code="SB00001", target="B1")
    finish = event("d", "lucknow", FINISH, op="bill_finish", code="B1", target="")
    other = event("d", "lucknow", ACCEPT, op="bill_add", code="SB00002", target="B2")
    assert bill_scope.sees_event(on_bill) and bill_scope.sees_event(finish)
    assert not bill_scope.sees_event(other)
    assert lucknow.sees_event(other) and not Scope.parse("area:indore").sees_event(other)
    assert bill_scope.sees_bill(bill("B1", "indore")) and not bill_scope.sees_bill(bill("B2", "lucknow"))
    assert lucknow.sees_bill(bill("B2", "lucknow")) and not lucknow.sees_bill(bill("B1", "indore"))


# --- counters, snapshots, deltas ---------------------------------------------------------------


def test_counters_per_area_and_device_and_scope() -> None:
    state = fresh()
    state.apply(batch(1, T0, [event("d1", "lucknow", LINK, seq=1), event("d1", "lucknow", REJECT, seq=2),
                              event("d2", "indore", COMPLETE, seq=1)]))
    state.apply(batch(2, T0 + 5, [event("d2", "indore", FINISH, seq=2, op="bill_finish"),
                                  event("d3", "lucknow", ACCEPT, seq=1, op="parent")]))
    everything = state.snapshot(Scope.parse("all"))
    assert everything["seq"] == 2 and everything["day"] == "2025-03-01" and everything["scope"] == "all"
    assert everything["counters"] == {"accepted": 4, "rejected": 1, "children_linked": 2,
                                      "parents_completed": 1, "bills_completed": 1}
    assert everything["areas"] == {
        "lucknow": {**ZERO, "accepted": 2, "rejected": 1, "children_linked": 1},
        "indore": {**ZERO, "accepted": 2, "children_linked": 1, "parents_completed": 1, "bills_completed": 1},
    }
    assert {s["device"]: (s["area"], s["accepted"], s["rejected"]) for s in everything["scanners"]} == {
        "d1": ("lucknow", 1, 1), "d2": ("indore", 2, 0), "d3": ("lucknow", 1, 0)}
    assert len(everything["events"]) == 5

    lucknow = state.snapshot(Scope.parse("area:lucknow"))
    assert lucknow["counters"] == everything["areas"]["lucknow"]
    assert set(lucknow["areas"]) == {"lucknow"}
    assert {s["device"] for s in lucknow["scanners"]} == {"d1", "d3"}
    assert [e["area"] for e in lucknow["events"]] == ["lucknow"] * 3

    nowhere = state.snapshot(Scope.parse("area:hisar"))
    assert nowhere["counters"] == ZERO and nowhere["areas"] == {} and nowhere["scanners"] == []
    assert nowhere["events"] == [] and nowhere["per_minute"] == []


def test_a_device_counts_in_each_area_it_scanned_in() -> None:
    """A lucknow scanner whose scan of an indore bag was refused: that refusal counts in indore (as
    in scan_stats); indore's screen shows only it, lucknow's screen keeps the device's own scans."""
    state = fresh()
    state.apply(batch(1, T0, [event("d1", "lucknow", LINK, seq=1), event("d1", "lucknow", LINK, seq=2)]))
    change = state.apply(batch(2, T0 + 1, [event("d1", "indore", REJECT, seq=3, result="WRONG_AREA")]))
    lucknow, indore, everything = Scope.parse("area:lucknow"), Scope.parse("area:indore"), Scope.parse("all")
    assert state.snapshot(lucknow)["scanners"] == [
        {"device": "d1", "user": "ravi", "area": "lucknow", **ZERO, "accepted": 2, "children_linked": 2}]
    assert state.snapshot(indore)["scanners"] == [
        {"device": "d1", "user": "ravi", "area": "indore", **ZERO, "rejected": 1}]
    assert state.snapshot(everything)["scanners"] == [
        {"device": "d1", "user": "ravi", "area": "lucknow", **ZERO, "accepted": 2, "rejected": 1,
         "children_linked": 2}]
    assert state.delta(change, lucknow) == {"t": "delta", "from": 2, "seq": 2}
    assert state.delta(change, indore)["scanners"] == state.snapshot(indore)["scanners"]
    assert state.delta(change, everything)["scanners"] == state.snapshot(everything)["scanners"]


def test_a_corrections_shifts_move_todays_counts_and_leave_earlier_days_alone() -> None:
    """A reassign takes a parent's links (counted at 09:30 and yesterday) from lucknow to indore:
    today's shift moves today's counters, yesterday's is in yesterday's rows only."""
    state = fresh()
    state.apply(batch(1, T0 - 1800, [event("d1", "lucknow", COMPLETE)]))
    nine = int((T0 - 1800) // 60 * 60)
    yesterday = int((T0 - 86_400) // 60 * 60)
    reassign = {**event("api:1", "indore", ACCEPT, op="reassign_area", code="SB00001", target="indore"),
                "shifts": [["lucknow", nine, [0, 0, -1, -1, 0]], ["indore", nine, [0, 0, 1, 1, 0]],
                           ["lucknow", yesterday, [0, 0, -5, 0, 0]], ["indore", yesterday, [0, 0, 5, 0, 0]]]}
    change = state.apply(batch(2, T0, [reassign]))
    everything = state.snapshot(Scope("all"))
    assert everything["areas"] == {"lucknow": {**ZERO, "accepted": 1},
                                   "indore": {**ZERO, "accepted": 1, "children_linked": 1, "parents_completed": 1}}
    assert everything["counters"] == {**ZERO, "accepted": 2, "children_linked": 1, "parents_completed": 1}
    lucknow = state.delta(change, Scope("area", "lucknow"))
    assert lucknow["counters"] == {**ZERO, "accepted": 1}  # the shift out of lucknow reaches its dashboards
    assert {s["device"]: s["children_linked"] for s in lucknow["scanners"]} == {"api:1": -1}
    assert sum(n for _, n in everything["per_minute"]) == 2  # shifts move counts, not scans


def test_batches_apply_only_in_seq_order() -> None:
    state = fresh(seq=7)
    with pytest.raises(AssertionError):
        state.apply(batch(9, T0))
    with pytest.raises(AssertionError):
        state.apply(batch(7, T0))
    state.apply(batch(8, T0))
    assert state.seq == 8


def test_delta_carries_only_what_changed_for_the_scope() -> None:
    state = fresh()
    state.apply(batch(1, T0, [event("d1", "lucknow", LINK)], [parent("SB00001", "lucknow", 1)]))
    change = state.apply(batch(2, T0 + 1, [event("d2", "indore", LINK, code="C0002", target="SB00002")],
                               [parent("SB00002", "indore", 1)]))
    assert state.delta(change, Scope.parse("area:lucknow")) == {"t": "delta", "from": 2, "seq": 2}
    assert state.delta(change, Scope.parse("bill:B1")) == {"t": "delta", "from": 2, "seq": 2}
    indore = state.delta(change, Scope.parse("area:indore"))
    assert set(indore) == {"t", "from", "seq", "counters", "areas", "scanners", "per_minute", "parents", "events"}
    assert indore["counters"] == {**ZERO, "accepted": 1, "children_linked": 1}
    everything = state.delta(change, Scope.parse("all"))
    # The counters are the scope's new totals (replace), the areas only the changed ones.
    assert everything["counters"] == {**ZERO, "accepted": 2, "children_linked": 2}
    assert set(everything["areas"]) == {"indore"}
    assert [s["device"] for s in everything["scanners"]] == ["d2"]
    assert everything["per_minute"] == [[int(T0 // 60 * 60), 2]]
    assert everything["parents"] == [parent("SB00002", "indore", 1)]

    # A batch with nothing in it still takes its seq, so clients see no gap.
    empty = state.apply(batch(3, T0 + 2))
    assert state.delta(empty, Scope.parse("all")) == {"t": "delta", "from": 3, "seq": 3}


def test_bill_scope_sees_only_its_bill() -> None:
    state = fresh()
    state.apply(batch(1, T0, [event("b", "lucknow", ACCEPT, op="bill_create", code="B1", target="")],
                      bills=[bill("B1", "lucknow")]))
    change = state.apply(batch(2, T0, [
        event("b", "lucknow", ACCEPT, seq=2, op="bill_create", code="B2", target=""),
        event("b", "lucknow", ACCEPT, seq=3, op="bill_add", code="SB00001", target="B1"),
    ], bills=[bill("B2", "lucknow"), bill("B1", "lucknow", count=1)]))
    scope = Scope.parse("bill:b1")
    snapshot = state.snapshot(scope)
    assert set(snapshot) == {"t", "seq", "scope", "bills", "events"}
    assert snapshot["scope"] == "bill:B1" and snapshot["bills"] == [bill("B1", "lucknow", count=1)]
    assert [e["code"] for e in snapshot["events"]] == ["B1", "SB00001"]
    delta = state.delta(change, scope)
    assert delta["bills"] == [bill("B1", "lucknow", count=1)] and len(delta["events"]) == 1
    finished = state.apply(batch(3, T0, [event("b", "lucknow", FINISH, seq=4, op="bill_finish", code="B1",
                                               target="")], bills=[bill("B1", "lucknow", "completed", 1)]))
    assert state.delta(finished, scope)["bills"][0]["status"] == "completed"
    assert state.snapshot(scope)["bills"] == []  # only open bills are in progress
    assert state.snapshot(Scope.parse("area:lucknow"))["counters"]["bills_completed"] == 1


def test_parents_and_bills_in_progress() -> None:
    state = fresh()
    state.apply(batch(1, T0, parents=[parent("SB00001", "lucknow", 0), parent("SB00002", "lucknow", 3),
                                      parent("M444-00001", "indore", 14, 15)],
                      bills=[bill("B1", "lucknow"), bill("B2", "indore")]))
    assert set(state.parents) == {"SB00002", "M444-00001"}  # an empty parent is not being filled
    state.apply(batch(2, T0, parents=[parent("M444-00001", "indore", 15, 15), parent("SB00002", "lucknow", 0)],
                      bills=[bill("B1", "lucknow", "completed", 1)]))
    assert state.parents == {} and set(state.bills) == {"B2"}
    assert state.snapshot(Scope.parse("area:lucknow"))["bills"] == []
    # Only the most recently changed IN_PROGRESS_SHOWN are kept.
    state.apply(batch(3, T0, parents=[parent(f"SB{n:05d}", "lucknow", 1) for n in range(IN_PROGRESS_SHOWN + 5)]))
    assert len(state.parents) == IN_PROGRESS_SHOWN and "SB00004" not in state.parents
    assert f"SB{IN_PROGRESS_SHOWN + 4:05d}" in state.parents


def test_recent_events_are_bounded_and_oldest_first() -> None:
    state = fresh()
    for seq in range(1, RECENT_EVENTS + 11):
        state.apply(batch(seq, T0 + seq, [event("d", "lucknow", ACCEPT, seq=seq)]))
    events = state.snapshot(Scope.parse("all"))["events"]
    assert [e["seq"] for e in events] == list(range(11, RECENT_EVENTS + 11))
    assert events[-1]["at"] == T0 + RECENT_EVENTS + 10


# --- time: the minute window and the day -------------------------------------------------------


def test_per_minute_window_keeps_the_last_hour() -> None:
    state = fresh()
    minute0 = int(T0 // 60 * 60)
    state.apply(batch(1, T0, [event("d", "lucknow", ACCEPT), event("d", "indore", REJECT, seq=2)]))
    state.apply(batch(2, T0 + 59, [event("d", "lucknow", ACCEPT, seq=3)]))  # the same minute
    state.apply(batch(3, T0 + 60, [event("d", "lucknow", LINK, seq=4)]))
    assert state.snapshot(Scope.parse("all"))["per_minute"] == [[minute0, 3], [minute0 + 60, 1]]
    assert state.snapshot(Scope.parse("area:indore"))["per_minute"] == [[minute0, 1]]
    # 59 minutes on, the first minute is still in the window; at 60 minutes it drops out.
    state.apply(batch(4, minute0 + 59 * 60 + 1, [event("d", "lucknow", ACCEPT, seq=5)]))
    assert [m for m, _ in state.snapshot(Scope.parse("all"))["per_minute"]] == [
        minute0, minute0 + 60, minute0 + 59 * 60]
    change = state.apply(batch(5, minute0 + 60 * 60, [event("d", "lucknow", ACCEPT, seq=6)]))
    assert [m for m, _ in state.snapshot(Scope.parse("all"))["per_minute"]] == [
        minute0 + 60, minute0 + 59 * 60, minute0 + 60 * 60]
    assert state.delta(change, Scope.parse("all"))["per_minute"] == [[minute0 + 60 * 60, 1]]
    assert state.delta(change, Scope.parse("area:indore")) == {"t": "delta", "from": 5, "seq": 5}


def test_day_rolls_over_at_midnight_in_the_hub_time_zone() -> None:
    midnight = datetime(2025, 3, 2, tzinfo=KOLKATA).timestamp()  # 18:30 UTC on 1 March
    state = fresh(at=midnight - 3600)
    state.apply(batch(1, midnight - 30, [event("d1", "lucknow", COMPLETE)], [parent("SB00001", "lucknow", 5)]))
    assert state.snapshot(Scope.parse("all"))["day"] == "2025-03-01"
    change = state.apply(batch(2, midnight + 10, [event("d2", "indore", ACCEPT, code="SB00002", op="parent")]))
    snapshot = state.snapshot(Scope.parse("all"))
    assert snapshot["day"] == "2025-03-02"
    assert snapshot["counters"] == {**ZERO, "accepted": 1}
    assert snapshot["areas"] == {"indore": {**ZERO, "accepted": 1}}
    assert [s["device"] for s in snapshot["scanners"]] == ["d2"]
    # The minute window spans midnight; the parents being filled and the events stay.
    assert [m for m, _ in snapshot["per_minute"]] == [int((midnight - 60) // 60 * 60), int(midnight)]
    assert set(state.parents) == {"SB00001"} and len(snapshot["events"]) == 2
    # Yesterday's area is gone from today's totals; the delta's counters say so.
    assert state.delta(change, Scope.parse("all"))["counters"] == {**ZERO, "accepted": 1}
    assert state.snapshot(Scope.parse("area:lucknow"))["counters"] == ZERO
    # UTC's midnight is no boundary in Kolkata.
    utc_midnight = datetime(2025, 3, 2, tzinfo=UTC).timestamp()
    state.apply(batch(3, utc_midnight + 1, [event("d2", "indore", ACCEPT, seq=2)]))
    assert state.day == date(2025, 3, 2) and state.snapshot(Scope.parse("all"))["counters"]["accepted"] == 2


def test_a_batch_stamped_before_midnight_but_committed_after_does_not_undo_the_rollover() -> None:
    """Batches are applied in commit order, but each is stamped when its hub started it: near
    midnight the next batch may carry yesterday's time. It counts for yesterday (as in scan_stats,
    whose minute is that stamp), so today's counters keep today's scans and nothing else."""
    midnight = datetime(2025, 3, 2, tzinfo=KOLKATA).timestamp()
    state = fresh(at=midnight - 60)
    state.apply(batch(1, midnight - 5, [event("d1", "lucknow", ACCEPT)]))
    state.apply(batch(2, midnight + 0.2, [event("d2", "indore", ACCEPT)]))
    change = state.apply(batch(3, midnight - 0.1, [event("d1", "lucknow", LINK, seq=2)]))
    state.apply(batch(4, midnight + 0.3, [event("d2", "indore", REJECT, seq=2)]))
    snapshot = state.snapshot(Scope.parse("all"))
    assert snapshot["day"] == "2025-03-02"
    assert snapshot["counters"] == {**ZERO, "accepted": 1, "rejected": 1}
    assert snapshot["areas"] == {"indore": {**ZERO, "accepted": 1, "rejected": 1}}
    # Yesterday's late scan still shows in its minute and among the recent events.
    late = state.delta(change, Scope.parse("all"))
    assert set(late) == {"t", "from", "seq", "per_minute", "events"}
    assert late["per_minute"] == [[int((midnight - 60) // 60 * 60), 2]]
    assert sum(n for _, n in snapshot["per_minute"]) == 4 and len(snapshot["events"]) == 4


# --- the client's view equals a fresh snapshot -------------------------------------------------

AREAS = ("lucknow", "indore", "jaipur")
SCOPES = ("all", "area:lucknow", "area:indore", "area:hisar", "bill:B1")


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A day of batches: scans in a few areas by a few devices, parents and bills changing."""
    out = []
    at = T0
    for seq in range(1, draw(st.integers(1, 25)) + 1):
        at += draw(st.sampled_from([0.5, 7, 61, 600, 1900]))
        events = [event(f"d{draw(st.integers(0, 4))}", draw(st.sampled_from(AREAS)),
                        draw(st.sampled_from([ACCEPT, REJECT, LINK, COMPLETE, FINISH, [1, 0, -1, -1, 0]])),
                        seq=seq * 10 + n, code=draw(st.sampled_from(["B1", "SB00001", "C0001"])))
                  for n in range(draw(st.integers(0, 4)))]
        # A bag or bill keeps its area: code n lives in AREAS[n % 3].
        parents = [parent(f"SB0000{n}", AREAS[n % 3], draw(st.integers(0, 3)), 3)
                   for n in draw(st.lists(st.integers(1, 4), max_size=2, unique=True))]
        bills = [bill(f"B{n}", AREAS[n % 3], draw(st.sampled_from(["open", "completed"])), draw(st.integers(0, 3)))
                 for n in draw(st.lists(st.integers(1, 3), max_size=2, unique=True))]
        out.append(batch(seq, at, events, parents, bills))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.integers(0, 25), st.lists(st.booleans(), min_size=25, max_size=25))
def test_snapshot_then_deltas_equals_a_fresh_snapshot(stream: list[dict[str, Any]], joined_at: int,
                                                      sent_after: list[bool]) -> None:
    """Whichever batches share a delta (`sent_after[n]`: a delta goes out after batch n), as the
    fan-out does: changes absorbed until sent, a snapshot instead when the day changes. Lists of 2
    parents and bills at most, fewer than the stream has: some are dropped from them."""
    with mock.patch("hub.livestate.IN_PROGRESS_SHOWN", 2):
        _snapshot_then_deltas(stream, joined_at, sent_after)


def _snapshot_then_deltas(stream: list[dict[str, Any]], joined_at: int, sent_after: list[bool]) -> None:
    state = fresh()
    views: dict[str, DashboardView] = {}
    unsent: Change | None = None
    sent = 0
    join = min(joined_at, len(stream) - 1)
    for n, item in enumerate(stream):
        if n == join:
            assert unsent is None
            for scope in SCOPES:
                views[scope] = DashboardView()
                views[scope].apply(state.snapshot(Scope.parse(scope)))
        day = state.day
        change = state.apply(item)
        if state.day != day:
            unsent = None
            for scope, view in views.items():
                view.apply(state.snapshot(Scope.parse(scope)))
        elif unsent is None:
            unsent = change
        else:
            unsent.absorb(change)
        if unsent is not None and (sent_after[n] or n == len(stream) - 1 or n + 1 == join):
            sent += bool(views)
            for scope, view in views.items():
                assert view.apply(state.delta(unsent, Scope.parse(scope))) is None
            unsent = None
    for scope, view in views.items():
        snapshot = state.snapshot(Scope.parse(scope))
        if "counters" in snapshot:  # a scope's scanners add up to its counters
            assert {f: sum(s[f] for s in snapshot["scanners"]) for f in FIELDS} == snapshot["counters"]
        expected = DashboardView()
        expected.apply(snapshot)
        built, anew = view.state(stream[-1]["at"]), expected.state(stream[-1]["at"])
        # The hub keeps the latest RECENT_EVENTS of all scopes: a narrower scope's snapshot has the
        # newest of those it sees, while its client kept up to RECENT_EVENTS of its own.
        built_events, new_events = built.pop("events"), anew.pop("events")
        assert built_events[len(built_events) - len(new_events):] == new_events, scope
        assert scope != "all" or built_events == new_events
        assert built == anew, scope
        assert view.gaps == 0 and view.deltas == sent


def test_the_view_asks_for_a_resync_on_a_gap_and_ignores_old_deltas() -> None:
    state = fresh()
    view = DashboardView()
    view.apply(state.snapshot(Scope.parse("all")))
    changes = [state.apply(batch(seq, T0, [event("d", "lucknow", ACCEPT, seq=seq)])) for seq in (1, 2, 3)]
    deltas = [state.delta(change, Scope.parse("all")) for change in changes]
    assert view.apply(deltas[0]) is None and view.seq == 1
    assert view.apply(deltas[2]) == "resync" and view.seq == 1 and view.gaps == 1
    assert view.apply(deltas[2]) is None  # asked once; waits for the snapshot
    view.apply(state.snapshot(Scope.parse("all")))
    assert view.seq == 3 and view.counters["accepted"] == 3
    assert view.apply(deltas[1]) is None and view.seq == 3  # older than the snapshot: ignored
