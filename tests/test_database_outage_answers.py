"""While the hub cannot reach PostgreSQL, every path that needs it answers with a code that says
"try again", and nothing is logged as a crash: a scanner or dashboard connecting waits a few seconds
for the database (a restart is that short), then is closed with 1013 (reconnect with backoff); a
login is answered 503 BUSY with Retry-After. When the database is back, the same requests work
again. PostgreSQL is really stopped: a private cluster of the test's own (tests/test_faults.py
restarts one under load)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from hub import websockets
from tests.conftest import ADMIN_PASSWORD
from tests.faults_support import hub_on_private_cluster
from tests.support import make_user
from tests.ws_support import Connection, Watcher, close_connections

pytestmark = pytest.mark.slow


def test_while_postgresql_is_stopped_scanners_dashboards_and_logins_are_told_to_try_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the session lookup raised, the websocket handler crashed (a traceback in the log)
    and the scanner saw its connection drop (1006) without being told why; a login was 500."""
    monkeypatch.setattr(websockets, "DATABASE_WAIT", 1.0)  # an outage longer than the hub waits
    with hub_on_private_cluster(tmp_path) as (client, cluster):
        token = make_user(client)
        cluster.stop()
        try:
            scanner = Connection(client, token)
            with pytest.raises(WebSocketDisconnect) as closed:
                scanner.hello("hh-outage-1", 0)
            watcher = Watcher(client, token)
            with pytest.raises(WebSocketDisconnect) as dashboard_closed:
                watcher.next()
            login = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        finally:
            close_connections()
            cluster.start()
        assert closed.value.code == dashboard_closed.value.code == 1013
        assert (login.status_code, login.json()["error"], login.headers.get("retry-after")) == (503, "BUSY", "1")
        assert "Exception in ASGI application" not in caplog.text
        assert "unexpected error answering" not in caplog.text
        # Back: the same login, scanner and dashboard work again, the hub untouched.
        assert client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
        assert Connection(client, token, "hh-outage-1").welcome["applied_seq"] == 0
        assert Watcher(client, token).next()["t"] == "snapshot"
        close_connections()


def test_a_scanner_connecting_during_a_short_outage_waits_and_is_welcomed_once_postgresql_is_back(
        tmp_path: Path) -> None:
    """Before: closed at once; its backoff then doubled through the outage and outlasted it by
    seconds (a 3 s PostgreSQL restart under load left scanners out for up to 7 s after it)."""
    with hub_on_private_cluster(tmp_path) as (client, cluster):
        token = make_user(client)
        cluster.stop()
        back = threading.Timer(1.0, cluster.start)
        back.start()
        try:
            scanner = Connection(client, token, "hh-outage-2")
        finally:
            back.join()
        assert scanner.welcome["applied_seq"] == 0
        close_connections()
