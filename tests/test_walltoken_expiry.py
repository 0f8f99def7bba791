"""Wall-screen tokens may expire (issue 8 item 16): after its expiry a token opens no dashboard."""

from __future__ import annotations

import asyncpg
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub.codes import Close
from tests.conftest import ADMIN_PASSWORD
from tests.support import login


def issue(client: TestClient, admin: str, **fields: object) -> dict[str, object]:
    response = client.post("/api/wall-tokens", json={"label": "Dock 3", "area": None, **fields},
                           headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def opens(client: TestClient, token: object) -> bool:
    try:
        with client.websocket_connect(f"/ws/dashboard?token={token}") as ws:
            return bool(ws.receive_bytes())
    except WebSocketDisconnect as exc:
        assert exc.code == Close.POLICY_VIOLATION
        return False


async def test_a_token_with_an_expiry_stops_working_once_it_passes(client: TestClient,
                                                                 clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    lasting, expiring = issue(client, admin), issue(client, admin, expires_days=7)
    assert lasting["expires_at"] is None and isinstance(expiring["expires_at"], str)
    assert opens(client, lasting["token"]) and opens(client, expiring["token"])

    await clean_db.execute("UPDATE wall_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
                           expiring["id"])
    assert not opens(client, expiring["token"])
    assert opens(client, lasting["token"])
    listed = {t["id"]: t for t in client.get("/api/wall-tokens",
                                             headers={"cookie": f"tt_session={admin}"}).json()["tokens"]}
    assert listed[expiring["id"]]["expired"] is True and listed[lasting["id"]]["expired"] is False
    audit = await clean_db.fetchval("SELECT after FROM audit_log WHERE action = 'wall_token.issue' "
                                    "AND target = $1", f"wall_token:{expiring['id']}")
    assert audit["expires_at"] == expiring["expires_at"]


@pytest.mark.parametrize("days", [0, -1, 3651, 1.5, "7", True, 2**70])
def test_an_expiry_is_a_whole_number_of_days(client: TestClient, days: object) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    response = client.post("/api/wall-tokens", json={"label": "Dock", "area": None, "expires_days": days},
                           headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 400 and "expires_days" in response.json()["message"]
