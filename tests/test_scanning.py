"""Scanning over the websocket, in-process: the operations, their codes, and what PostgreSQL holds."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support import Scanner, make_user


def test_parent_then_children_fill_the_parent(client: TestClient) -> None:
    with Scanner(client, make_user(client)) as scanner:
        first = scanner.do("parent", code="sb00001")
        assert first["code"] == "OK" and first["data"] == {
            "parent": "SB00001", "count": 0, "capacity": 30, "complete": False, "created": True}
        for n in range(1, 31):
            reply = scanner.do("child", code=f"c{n:05d}", parent="SB00001")
            assert reply["code"] == "OK", reply
            assert reply["data"]["count"] == n
        assert reply["data"]["complete"] is True
        full = scanner.do("child", code="C99999", parent="SB00001")
        assert full["code"] == "PARENT_FULL" and full["ok"] is False
