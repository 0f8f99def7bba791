"""Reads on a read replica (DATABASE_READ_URL), against a real streaming standby of a private primary.

The proof that lists and exports are read on the standby: with its replay paused they do not show
rows the primary holds, and they do once it resumes. Scans are still judged on the primary (a child
into a parent that only the primary has yet), a dashboard state read while the standby lags is as
new as the primary, and with the standby lagging past the bound, or stopped, reads still answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import asyncpg
import pytest
from starlette.testclient import TestClient

from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.dashboard_support import DashboardView, shown_areas, sql_today
from tests.replica_support import (
    DATABASE,
    Pair,
    exported_scans,
    listed,
    metric,
    primary_and_standby,
    query,
    replica_client,
    wait_for,
)
from tests.support import Scanner, login, make_user
from tests.ws_support import Watcher

pytestmark = pytest.mark.slow

FALLBACKS = "tracetrack_replica_fallbacks_total"
READS = "tracetrack_replica_reads_total"


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with primary_and_standby() as made:
        yield made


@pytest.fixture
def paused(pair: Pair) -> Iterator[Pair]:
    """The pair, its standby's replay resumed at the end whatever happened."""
    yield pair
    pair.resume_replay()


def bags(client: TestClient, token: str) -> set[str]:
    return listed(client, token, "/api/bags", "bags", "code")


def scans(client: TestClient, token: str) -> set[int]:
    return listed(client, token, "/api/scans", "scans", "id")


def test_lists_and_exports_are_read_on_the_replica_and_scans_decide_on_the_primary(
        settings: Settings, paused: Pair) -> None:
    pair = paused
    with replica_client(settings, pair, max_lag=60) as client:
        token = make_user(client, "dispatcher", "lucknow")
        with Scanner(client, token) as scanner:
            assert scanner.do("parent", code="M444-00001")["code"] == "OK"
            pair.wait_replayed()
            shown_bags, shown_scans, exported = bags(client, token), scans(client, token), exported_scans(client, token)
            assert "M444-00001" in shown_bags
            served = metric(client, READS, served_by="replica"), metric(client, READS, served_by="primary")

            pair.pause_replay()
            assert scanner.do("parent", code="M444-00002")["code"] == "OK"
            # Judged on the primary: the parent is there only, and so is the link.
            assert scanner.do("child", code="01C001", parent="M444-00002")["code"] == "OK"
            assert scanner.do("child", code="01C001", parent="M444-00001")["code"] == "ALREADY_LINKED"
            second = make_user(client, "dispatcher", "lucknow")  # logins and sessions: on the primary
            count = "SELECT count(*) FROM scans"
            assert query(pair.primary.url(DATABASE), count) == query(pair.standby.url(DATABASE), count) + 3

            assert bags(client, token) == bags(client, second) == shown_bags, "the standby's rows"
            assert scans(client, token) == shown_scans
            assert exported_scans(client, token) == exported
            assert metric(client, READS, served_by="replica") == served[0] + 4
            assert metric(client, READS, served_by="primary") == served[1]

            pair.resume_replay()
            pair.wait_replayed()
            assert bags(client, token) == shown_bags | {"M444-00002", "01C001"}
            assert len(scans(client, token)) == len(shown_scans) + 3
            assert exported_scans(client, token) == exported + 3


def dashboard(client: TestClient) -> DashboardView:
    """A fresh dashboard's first snapshot."""
    view = DashboardView()
    watcher = Watcher(client, login(client, "admin", ADMIN_PASSWORD))
    message = watcher.answer()
    assert message["t"] == "snapshot", message
    view.apply(message)
    watcher.close()
    return view


async def _primary_state(url: str, day: str) -> tuple[int, dict[str, dict[str, int]]]:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT seq FROM commit_clock")), await sql_today(conn, day)
    finally:
        await conn.close()


def assert_exact(view: DashboardView, pair: Pair) -> None:
    """The dashboard shows the primary's last commit seq and the counts of its rows."""
    seq, areas = asyncio.run(_primary_state(pair.primary.url(DATABASE), view.day))
    assert view.seq == seq
    assert shown_areas(view) == areas


def test_a_dashboard_state_read_while_the_replica_lags_misses_no_batch(settings: Settings, paused: Pair) -> None:
    """A hub that starts while the standby lags hears of no batch committed before: its state must
    hold them all, read on the standby once it caught up, else on the primary."""
    pair = paused
    with replica_client(settings, pair, max_lag=60) as writing:
        token = make_user(writing, "dispatcher", "lucknow")
        with Scanner(writing, token) as scanner:
            assert scanner.do("parent", code="M444-00003")["code"] == "OK"
            pair.wait_replayed()
            pair.pause_replay()
            for n in range(3):
                assert scanner.do("child", code=f"03C{n:03d}", parent="M444-00003")["code"] == "OK"
            assert query(pair.standby.url(DATABASE), "SELECT count(*) FROM scans WHERE code LIKE '03C%'") == 0

            fallbacks = metric(writing, FALLBACKS, reason="catch_up")  # the process's metrics: every app's
            with replica_client(settings, pair, max_lag=60) as fresh:  # the standby never catches up
                view = dashboard(fresh)
                assert_exact(view, pair)
                assert view.areas["lucknow"]["children_linked"] >= 3
            assert metric(writing, FALLBACKS, reason="catch_up") == fallbacks + 1

            assert scanner.do("child", code="03C003", parent="M444-00003")["code"] == "OK"
            served = metric(writing, READS, served_by="replica")
            threading.Timer(0.3, pair.resume_replay).start()  # caught up within the wait
            with replica_client(settings, pair, max_lag=60) as fresh:
                assert_exact(dashboard(fresh), pair)
            assert metric(writing, FALLBACKS, reason="catch_up") == fallbacks + 1
            assert metric(writing, READS, served_by="replica") == served + 1


def test_reads_fall_back_to_the_primary_when_the_replica_lags_or_is_away(settings: Settings, paused: Pair) -> None:
    pair = paused
    with replica_client(settings, pair, max_lag=0.5) as client:
        hub = client.app.state.hub
        token = make_user(client, "dispatcher", "lucknow")
        with Scanner(client, token) as scanner:
            pair.pause_replay()
            assert scanner.do("parent", code="M444-00005")["code"] == "OK"
            wait_for(lambda: not hub.reads.usable, "the standby counts as lagging", timeout=10)
            lagging = metric(client, FALLBACKS, reason="lagging")
            assert "M444-00005" in bags(client, token), "read on the primary"
            assert metric(client, FALLBACKS, reason="lagging") == lagging + 1
            pair.resume_replay()
            wait_for(lambda: hub.reads.usable, "the standby serves again", timeout=10)

            pair.standby.stop()
            try:
                # Noticed by the lag check, or by the read that failed on the standby and ran on the primary.
                away = metric(client, FALLBACKS, reason="away")
                assert "M444-00005" in bags(client, token)
                assert metric(client, FALLBACKS, reason="away") == away + 1
                assert scans(client, token) and exported_scans(client, token) >= 1
                with replica_client(settings, pair, max_lag=0.5) as fresh:  # a hub starts without it
                    assert_exact(dashboard(fresh), pair)
                    assert "M444-00005" in bags(fresh, token)
                assert scanner.do("parent", code="M444-00006")["code"] == "OK"
            finally:
                pair.standby.start()
            wait_for(lambda: hub.reads.usable, "the restarted standby serves again", timeout=20)
            pair.wait_replayed()
            replica = metric(client, READS, served_by="replica")
            assert "M444-00006" in bags(client, token)
            assert metric(client, READS, served_by="replica") == replica + 1
