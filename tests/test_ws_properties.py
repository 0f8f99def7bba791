"""Property-based: no frame a client can send stalls, crashes or closes /ws/scan or /ws/dashboard.

Hypothesis sends every message type (and garbage) with every field drawn from every MessagePack and
JSON type and size: integers past 64 bits, floats, NaN and infinities, NUL and other control
characters, lone surrogates, bytes, huge strings, nested and deeply nested values. For each frame:

- it gets exactly one answer: an `ack` for an op with a usable seq, else an `error` (or the `pong`,
  `snapshot` it asked for), never `RETRY` (no value makes the writer's batch fail);
- the connection stays open (a ping after it is answered);
- another device's scan, sent alongside into the same group commit, is acked OK.

The hub runs in-process; connections live across examples, so state (seqs, bags, bills) builds up.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub.codes import Code
from tests.conftest import ADMIN_PASSWORD
from tests.support import login, make_user
from tests.ws_support import Connection, Watcher, close_connections

NEXT = object()
"""Stands for the connection's next unused seq, so that most ops are applied rather than stale."""

OPS = ["parent", "child", "undo", "bill_create", "bill_add", "bill_finish", "bill_reopen"]
MAX_SEQ = 2**62
NOT_RECORDED = {"STALE_SEQ", "SEQ_TOO_FAR"}


@pytest.fixture
def client(client: TestClient) -> Iterator[TestClient]:
    yield client
    close_connections()


# --- values ------------------------------------------------------------------------------------

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
nasty_chars = st.sampled_from(["\x00", "\x1b", "\r", "\u200b", "\u202e", "\u2028", "\ufeff", "\U0010ffff"])
strings = st.one_of(
    st.text(max_size=30),
    st.text(st.one_of(st.characters(), nasty_chars, surrogates), max_size=30),
    st.sampled_from(["", " sb00001\r", "SB00001", "M444-00001", "C0001", "B-1", "lucknow", "indore", "x" * 60_000]),
)


def leaves(json_only: bool) -> st.SearchStrategy[Any]:
    numbers = st.integers() if json_only else st.integers(-(2**63), 2**64 - 1)
    edge = [0, -1, 1, 2**53, 2**62 - 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 253_402_300_800_000]
    if json_only:
        edge += [2**64, -(2**63) - 1, 10**40, 10**4000]
    base = [st.none(), st.booleans(), numbers, st.sampled_from(edge),
            st.floats(allow_nan=True, allow_infinity=True), strings]
    if not json_only:
        base.append(st.binary(max_size=40))
    return st.one_of(*base)


def values(json_only: bool) -> st.SearchStrategy[Any]:
    nested = st.recursive(leaves(json_only), lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)), max_leaves=12)
    deep = st.integers(30, 700).map(lambda depth: _deep(depth))
    return st.one_of(nested, nested, nested, deep)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


REALISTIC = {
    "code": st.sampled_from(["SB00001", "SB00002", "M444-00001", "C0001", "C0002", "sb00003 "]),
    "parent": st.sampled_from(["SB00001", "SB00002", "M444-00001"]),
    "bill": st.sampled_from(["B-1", "B-2", "B-1", "B-2", "SB00019", "b" * 41]),
    "capacity": st.sampled_from([1, 2, 1000, 1001, 0]),
    "destination": st.sampled_from(["Delhi", "Del\x00hi", "Del\x00hi", "\u202eihleD", "d" * 201]),
    "vehicle": st.sampled_from(["UP32", "UP\ud83d32", "v" * 200]),
    "at": st.sampled_from([1_795_881_600_000] * 4 + [253_402_300_799_999, 253_402_300_800_000, 2**53 - 1,
                                                      "yesterday", 1.5, True]),
    "area": st.sampled_from(["lucknow", "indore", "indore", "atlantis", ""]),
    "id": st.sampled_from([1, "p", None]),
}


def field_values(name: str, json_only: bool) -> st.SearchStrategy[Any]:
    return st.one_of(REALISTIC[name], values(json_only))


FIELDS = ["code", "parent", "bill", "capacity", "destination", "vehicle", "at", "area", "id"]
OP_FIELDS = {  # op: (required fields, optional fields besides `at`)
    "parent": (["code"], ["area"]), "child": (["code", "parent"], []), "undo": (["code"], []),
    "bill_create": (["bill", "capacity"], ["destination", "vehicle", "area"]),
    "bill_add": (["bill", "parent"], []), "bill_finish": (["bill"], []), "bill_reopen": (["bill"], []),
}


def messages(json_only: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly ops with the connection's next seq; then ops with every field drawn, other types, garbage."""
    fields = {name: field_values(name, json_only) for name in FIELDS}
    ops = st.fixed_dictionaries(
        {"t": st.just("op"),
         "seq": st.one_of(st.just(NEXT), st.just(NEXT), st.just(NEXT), st.integers(1, 10**6), values(json_only)),
         "op": st.one_of(st.sampled_from(OPS), st.sampled_from(OPS), values(json_only))},
        optional=fields)
    others = st.fixed_dictionaries(
        {"t": st.one_of(st.sampled_from(["ping", "ping", "hello", "resync", "ack", "op"]), values(json_only))},
        optional={"seq": values(json_only), "op": values(json_only), **fields})
    # ops a scanner could send, with at most one field (or the seq, or the op) drawn wild
    plausible = st.builds(
        lambda base, wild: {**base, **wild},
        st.one_of(*[st.fixed_dictionaries({"t": st.just("op"), "seq": st.just(NEXT), "op": st.just(kind),
                                           **{name: REALISTIC[name] for name in required}},
                                          optional={name: REALISTIC[name] for name in (*optional, "at")})
                    for kind, (required, optional) in OP_FIELDS.items()]),
        st.one_of(st.just({}), st.just({}), st.dictionaries(
            st.sampled_from([*FIELDS, "seq", "op"]), values(json_only), min_size=1, max_size=1)))
    return st.one_of(plausible, plausible, plausible, ops, others)


# a frame: (encoding, message or raw payload)
frames = st.one_of(
    st.tuples(st.just("msgpack"), messages(json_only=False)),
    st.tuples(st.just("json"), messages(json_only=True)),
    st.tuples(st.just("msgpack"), messages(json_only=False)),
    st.tuples(st.just("json"), messages(json_only=True)),
    st.tuples(st.just("raw"), st.one_of(st.binary(max_size=64), st.text(max_size=64))),
)
# which connection a frame goes to: the two scanners three times as often as the two dashboards
targets = st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3])


def encode(kind: str, payload: Any) -> tuple[bytes | str, bool]:
    """The frame, and whether it is a well-formed encoding of `payload`."""
    if kind == "raw":
        return payload, False
    if kind == "json":
        return json.dumps(payload), True
    try:
        return msgpack.packb(payload, use_bin_type=True), True
    except (ValueError, UnicodeEncodeError):  # a lone surrogate (sent as invalid UTF-8), or too deep
        return msgpack.packb(_shallow(payload), use_bin_type=True, unicode_errors="surrogatepass"), False


def _shallow(value: Any, depth: int = 0) -> Any:
    if depth > 100:
        return None
    if isinstance(value, list):
        return [_shallow(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: _shallow(item, depth + 1) for key, item in value.items()}
    return value


def usable_seq(message: Any) -> int | None:
    if not isinstance(message, dict) or message.get("t") != "op":
        return None
    seq = message.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < MAX_SEQ:
        return seq
    return None


def plain(value: Any) -> bool:
    """A ping id every encoding carries unchanged."""
    return value is None or (isinstance(value, (int, str)) and not isinstance(value, bool)
                             and not any(0xD800 <= ord(c) <= 0xDFFF for c in str(value))
                             and (not isinstance(value, int) or -(2**63) <= value < 2**64))


# --- the property ------------------------------------------------------------------------------


async def test_every_frame_is_answered_the_connection_stays_open_and_others_commit(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    scanners = [Connection(client, make_user(client, "biller"), "fuzz-biller"),
                Connection(client, admin, "fuzz-admin", text=True)]
    next_seq = {id(conn): 1 for conn in scanners}
    neighbour = Connection(client, make_user(client), "fuzz-neighbour")
    neighbour_seq = itertools.count(1)
    watchers = [Watcher(client, admin), Watcher(client, admin, "format=json")]
    for watcher in watchers:
        assert watcher.answer()["t"] == "snapshot"
    acks: list[dict[str, Any]] = []

    def pinged(send: Any, receive: Any) -> None:
        send({"t": "ping", "id": "still-there"})
        assert receive() == {"t": "pong", "id": "still-there"}

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(targets, frames)
    def check(target: int, frame: tuple[str, Any]) -> None:
        kind, payload = frame
        if kind != "raw" and payload.get("seq", None) is NEXT:
            payload = {**payload, "seq": next_seq[id(scanners[target % 2])]}
        data, well_formed = encode(kind, payload)
        seq = usable_seq(payload) if well_formed else None
        try:
            if target < 2:
                conn = scanners[target]
                (conn.ws.send_bytes if isinstance(data, bytes) else conn.ws.send_text)(data)  # type: ignore[operator]
                n = next(neighbour_seq)
                neighbour.send({"t": "op", "seq": n, "op": "parent", "code": f"SB9{n % 10_000:04d}"})
                reply = conn.receive()
                other = neighbour.ack(n)  # read before anything is asserted: nothing is left unread
                if seq is not None:
                    assert reply["t"] in ("ack", "error") and reply.get("seq") == seq, (payload, reply)
                elif well_formed:
                    assert reply["t"] == ("pong" if payload["t"] == "ping" else "error"), (payload, reply)
                if reply["t"] == "ack":
                    assert reply["code"] in Code.__members__ and reply["code"] != "RETRY", reply
                    assert reply["ok"] is (reply["code"] == "OK") and reply["retry"] is False
                    acks.append(reply)
                    if not reply["replay"] and reply["code"] not in NOT_RECORDED:
                        next_seq[id(conn)] = max(next_seq[id(conn)], reply["seq"] + 1)
                if reply["t"] == "pong" and plain(payload.get("id")):
                    assert reply["id"] == payload.get("id")
                assert other["code"] == "OK", other
                pinged(conn.send, conn.receive)
            else:
                watcher = watchers[target - 2]
                watcher.send_frame(data)
                reply = watcher.answer()
                assert reply["t"] in ("pong", "error", "snapshot"), reply
                if well_formed:
                    expected = {"ping": "pong", "resync": "snapshot"}.get(str(payload["t"]), "error")
                    assert reply["t"] == expected, (payload, reply)
                pinged(lambda m: watcher.send_frame(msgpack.packb(m)), watcher.answer)
        except WebSocketDisconnect as closed:
            raise AssertionError(f"{payload!r:.300} closed the connection: {closed.code}") from None

    check()
    assert len(acks) > 50, "too few ops reached the writer to prove anything"
    recorded = await clean_db.fetchval(
        "SELECT count(*) FROM scans WHERE device_id IN ('fuzz-biller', 'fuzz-admin')")
    assert recorded == sum(1 for a in acks if not a["replay"] and a["code"] not in NOT_RECORDED)
    assert await clean_db.fetchval(
        "SELECT count(*) FROM scans WHERE device_id = 'fuzz-neighbour' AND result <> 'OK'") == 0


hellos = st.fixed_dictionaries(
    {"t": st.one_of(st.just("hello"), st.just("hello"), values(json_only=True))},
    optional={"device": st.one_of(st.sampled_from(["hh-1", "d" * 64, "d" * 65, "hh-1\n", "hh 1"]),
                                  values(json_only=True)),
              "last_seq": st.one_of(st.sampled_from([0, 5, -1, 2**62, 2**62 - 1]), values(json_only=True))})


async def test_every_hello_is_answered_with_a_welcome_or_an_error_then_1002(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    token = make_user(client)

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(hellos, st.booleans())
    def check(hello: dict[str, Any], as_json: bool) -> None:
        conn = Connection(client, token, text=as_json)
        try:
            if as_json:
                conn.ws.send_text(json.dumps(hello))
            else:
                conn.ws.send_bytes(encode("msgpack", _msgpack_safe(hello))[0])
            reply = conn.receive()
            if reply["t"] == "welcome":
                conn.send({"t": "ping", "id": 1})
                assert conn.receive() == {"t": "pong", "id": 1}
            else:
                assert reply["t"] == "error" and reply["code"] == "BAD_REQUEST", reply
                with pytest.raises(WebSocketDisconnect) as closed:
                    conn.raw()
                assert closed.value.code == 1002
        finally:
            conn.close()

    check()


def _msgpack_safe(value: Any) -> Any:
    """JSON-only values (integers past 64 bits) made packable."""
    if isinstance(value, dict):
        return {key: _msgpack_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_msgpack_safe(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    return value
