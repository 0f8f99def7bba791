"""A device id belongs to the user who first said hello with it (docs/protocol.md section 3): another
user is refused with DEVICE_TAKEN and 4003 and cannot disturb the owner; an admin can release it.
A seq far above the device's highest one is answered SEQ_TOO_FAR and not recorded.
"""

from __future__ import annotations

import asyncpg
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD
from tests.sessions_support import Sockets, closed_with
from tests.support import login, make_user
from tests.ws_support import Socket


def parent(socket: Socket, seq: int, code: str) -> dict[str, object]:
    socket.send({"t": "op", "seq": seq, "op": "parent", "code": code})
    return socket.ack(seq)


async def test_another_user_cannot_take_a_device_and_the_owner_scans_on(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    owner, intruder = make_user(client), make_user(client)
    mine = sockets.scanner(owner, "hh-owned")
    assert parent(mine, 1, "SB00001")["code"] == "OK"

    theirs = sockets.scanner(intruder)
    refusal = theirs.hello("hh-owned", last_seq=0)
    assert refusal == {"t": "error", "code": "DEVICE_TAKEN", "msg": refusal["msg"]}
    assert "another user" in refusal["msg"]
    assert closed_with(theirs, 4003) == "device belongs to another user"

    # the owner was not replaced (no 4002) and goes on; nothing of the intruder was recorded
    assert parent(mine, 2, "SB00002")["code"] == "OK"
    assert await clean_db.fetchval("SELECT count(*) FROM scans WHERE device_id = 'hh-owned'") == 2
    assert await clean_db.fetchval("SELECT count(DISTINCT user_id) FROM scans") == 1
    assert await clean_db.fetchval("SELECT owner_id = user_id FROM devices WHERE device_id = 'hh-owned'")


async def test_the_owner_may_reconnect_from_anywhere(client: TestClient, sockets: Sockets,
                                                     clean_db: asyncpg.Pool) -> None:
    owner = make_user(client)
    first = sockets.scanner(owner, "hh-again")
    assert parent(first, 1, "SB00001")["code"] == "OK"
    second = sockets.scanner(owner)
    welcome = second.hello("hh-again", last_seq=1)
    assert (welcome["t"], welcome["applied_seq"]) == ("welcome", 1)
    assert closed_with(first, 4002) == "device connected again"


async def test_an_admin_releases_a_device_audited_and_its_socket_closes(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    owner, newcomer = make_user(client), make_user(client)
    admin = login(client, "admin", ADMIN_PASSWORD)
    mine = sockets.scanner(owner, "hh-handover")
    assert parent(mine, 1, "SB00001")["code"] == "OK"

    assert client.post("/api/devices/hh-handover/release",
                       headers={"cookie": f"tt_session={newcomer}"}).status_code == 403
    listed = client.get("/api/devices", headers={"cookie": f"tt_session={admin}"}).json()["devices"]
    assert [d["device"] for d in listed] == ["hh-handover"]
    response = client.post("/api/devices/hh-handover/release", headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 200, response.text
    assert response.json()["closed"] == 1
    assert closed_with(mine, 4003) == "device released by an admin"
    audit = await clean_db.fetchrow("SELECT action, before, after FROM audit_log WHERE target = 'device:hh-handover'")
    assert audit["action"] == "device.release" and audit["after"] == {"owner_id": None}
    again = client.post("/api/devices/hh-handover/release", headers={"cookie": f"tt_session={admin}"})
    assert (again.status_code, again.json()["error"]) == (404, "UNKNOWN_DEVICE")
    bad = client.post("/api/devices/has%20space/release", headers={"cookie": f"tt_session={admin}"})
    assert (bad.status_code, bad.json()["error"]) == (400, "BAD_REQUEST")

    # the next hello binds it anew, and the device's numbering goes on
    theirs = sockets.scanner(newcomer)
    welcome = theirs.hello("hh-handover", last_seq=1)
    assert (welcome["t"], welcome["applied_seq"]) == ("welcome", 1)
    assert parent(theirs, 2, "SB00002")["code"] == "OK"
    back = sockets.scanner(owner)
    assert back.hello("hh-handover")["code"] == "DEVICE_TAKEN"


async def test_a_seq_far_above_the_highest_is_refused_and_later_scans_are_not_stale(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    mine = sockets.scanner(make_user(client), "hh-far")
    assert parent(mine, 1, "SB00001")["code"] == "OK"
    for seq in (2**62 - 1, 100_002):  # the default window is 100,000 above the highest seq seen
        mine.send({"t": "op", "seq": seq, "op": "parent", "code": "SB00002"})
        reply = mine.ack(seq)
        assert (reply["code"], reply["ok"], reply["retry"]) == ("SEQ_TOO_FAR", False, False), reply
        assert reply["data"] == {"max_seq": 100_001}
    assert parent(mine, 100_001, "SB00003")["code"] == "OK"  # a gap within the window is fine
    assert parent(mine, 100_002, "SB00004")["code"] == "OK"  # the window moved with it
    assert await clean_db.fetchval("SELECT last_seq FROM devices WHERE device_id = 'hh-far'") == 100_002
    assert await clean_db.fetchval("SELECT count(*) FROM scans WHERE result = 'SEQ_TOO_FAR'") == 0
