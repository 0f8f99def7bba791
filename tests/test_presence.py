"""Presence between hubs: a hub's scanners as another hub sees them, from its heartbeats (whole
lists) and its changes (what changed), over a wire that may drop announcements."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from hub import presence as presence_module
from hub.livestate import Scope
from hub.presence import Presence

EVERYTHING = Scope.parse("all")
DEVICES = [f"gun-{n}" for n in range(3)]


class Wire:
    """Announcements as the publisher sends them (encoded at once), delivered when the test says."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def publish(self, message: dict[str, Any]) -> None:
        self.sent.append(msgpack.packb(message))

    def deliver(self, to: Presence, dropped: list[bool] | None = None) -> None:
        sent, self.sent = self.sent, []
        for n, payload in enumerate(sent):
            if not (dropped and dropped[n % len(dropped)]):
                to.on_message(msgpack.unpackb(payload))


def _shown(presence: Presence) -> list[dict[str, Any]]:
    return sorted(presence.online(EVERYTHING), key=lambda entry: entry["device"])


def test_a_heartbeat_that_changes_nothing_is_not_broadcast() -> None:
    changes: list[int] = []
    presence = Presence("here", lambda message: None, lambda: changes.append(1))
    gun = {"device": "g1", "user": "u", "area": "akola", "parent": None, "since": 1}
    presence.on_message({"origin": "there", "scanners": [gun]})
    presence.on_message({"origin": "there", "scanners": [gun]})  # the heartbeat
    assert len(changes) == 1 and presence.online(EVERYTHING) == [gun]
    presence.on_message({"origin": "there", "scanners": [{**gun, "parent": "SB00001"}]})
    presence.on_message({"origin": "there", "scanners": []})
    presence.on_message({"origin": "here", "scanners": [gun]})  # its own: ignored
    assert len(changes) == 3 and presence.online(EVERYTHING) == []


def test_a_change_names_only_what_changed() -> None:
    async def scenario() -> list[dict[str, Any]]:
        wire = Wire()
        here = Presence("here", wire.publish, lambda: None)
        for device in DEVICES:
            here.join(device, "u", "akola")
        await asyncio.sleep(presence_module.FLUSH_DELAY * 2)
        here.set_parent("gun-1", "SB00001")
        here.leave("gun-2")
        await asyncio.sleep(presence_module.FLUSH_DELAY * 2)
        return [msgpack.unpackb(payload) for payload in wire.sent]

    joined, changed = asyncio.run(scenario())
    assert sorted(entry["device"] for entry in joined["changed"]) == DEVICES and joined["gone"] == []
    assert [(entry["device"], entry["parent"]) for entry in changed["changed"]] == [("gun-1", "SB00001")]
    assert changed["gone"] == ["gun-2"] and "scanners" not in changed


_steps = st.lists(st.tuples(st.sampled_from(["join", "parent", "leave", "flush"]), st.sampled_from(DEVICES),
                            st.sampled_from([None, "SB00001", "SB00002"])), max_size=40)


@settings(max_examples=200, deadline=None)
@given(steps=_steps, dropped=st.lists(st.booleans(), min_size=1, max_size=5))
def test_another_hub_sees_every_change_and_a_heartbeat_repairs_a_dropped_one(
        steps: list[tuple[str, str, str | None]], dropped: list[bool]) -> None:
    """Delivered in order, every change shows on the other hub as on its own; with announcements
    dropped, the next heartbeat puts the other hub right."""

    async def scenario() -> None:
        honest, lossy = Wire(), Wire()
        here = Presence("here", lambda message: (honest.publish(message), lossy.publish(message)), lambda: None)
        there, behind = Presence("there", lambda message: None, lambda: None), Presence("behind", lambda m: None,
                                                                                         lambda: None)
        for action, device, parent in steps:
            if action == "join":
                here.join(device, f"user-{device}", "akola")
            elif action == "parent":
                here.set_parent(device, parent)
            elif action == "leave":
                here.leave(device)
            else:
                await asyncio.sleep(0.001)  # the flush, due at once
                honest.deliver(there)
                lossy.deliver(behind, dropped)
                assert _shown(there) == _shown(here)
        await asyncio.sleep(0.001)
        honest.deliver(there)
        assert _shown(there) == _shown(here)
        lossy.deliver(behind, dropped)
        here.start()
        await asyncio.sleep(0.001)  # the heartbeats, due at once
        lossy.deliver(behind)
        assert _shown(behind) == _shown(here)
        await here.close()

    with mock.patch.object(presence_module, "FLUSH_DELAY", 0), mock.patch.object(presence_module, "HEARTBEAT", 0):
        asyncio.run(scenario())
