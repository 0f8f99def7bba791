"""/metrics: who may read it, and that it counts what happened, in one process and across workers."""

from __future__ import annotations

import asyncio
import collections
import gc
import random
import time
from collections.abc import Iterator

import asyncpg
import httpx
import psutil
import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from tests.dashboard_support import make_account
from tests.hubprocess import HubProcess
from tests.metrics_support import BEARER, TOKEN, samples, total, value
from tests.remote_support import RemoteScanner, unique_prefix
from tests.support import Scanner, make_user
from tests.ws_support import Socket


@pytest.fixture
def metered(settings: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    """The app in-process with METRICS_TOKEN set."""
    with TestClient(create_app(settings.replace(metrics_token=TOKEN)), base_url="http://testserver") as client:
        yield client


def test_metrics_are_off_without_a_token(client: TestClient) -> None:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND"


def test_a_scrape_needs_the_bearer_token(metered: TestClient) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        response = metered.get("/metrics", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "UNAUTHENTICATED"
    response = metered.get("/metrics", headers=BEARER)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")


def test_scans_batches_connections_cache_and_pool_are_counted(metered: TestClient) -> None:
    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return samples(metered.get("/metrics", headers=BEARER).text)

    before = scrape()
    codes: collections.Counter[str] = collections.Counter()
    user = make_user(metered)
    dashboard = Socket(metered, "/ws/dashboard", user)
    assert dashboard.receive()["t"] == "snapshot"
    with Scanner(metered, user) as scanner:
        codes[scanner.do("parent", code="SB00001")["code"]] += 1
        for n in range(1, 4):
            codes[scanner.do("child", code=f"C{n:05d}", parent="SB00001")["code"]] += 1
        codes[scanner.do("child", code="C00001", parent="SB00002")["code"]] += 1
        during = scrape()
    dashboard.close()
    assert codes["OK"] == 4 and sum(codes.values()) == 5
    assert value(during, "tracetrack_connected", kind="scanner") == value(before, "tracetrack_connected",
                                                                          kind="scanner") + 1
    assert value(during, "tracetrack_connected", kind="dashboard") == value(before, "tracetrack_connected",
                                                                            kind="dashboard") + 1
    for code, count in codes.items():
        assert value(during, "tracetrack_scans_total", result=code) - value(
            before, "tracetrack_scans_total", result=code) == count
    assert total(during, "tracetrack_scans_total") - total(before, "tracetrack_scans_total") == 5
    assert value(during, "tracetrack_batch_size_sum") - value(before, "tracetrack_batch_size_sum") == 5
    batches = value(during, "tracetrack_batch_size_count") - value(before, "tracetrack_batch_size_count")
    assert 1 <= batches <= 5
    assert value(during, "tracetrack_commit_seconds_count") - value(before, "tracetrack_commit_seconds_count") \
        == batches
    hits = value(during, "tracetrack_bag_cache_lookups_total", result="hit") - value(
        before, "tracetrack_bag_cache_lookups_total", result="hit")
    assert hits >= 3  # the three children into SB00001, cached by its own commit
    assert value(during, "tracetrack_db_pool_size") >= 1
    assert 0 <= value(during, "tracetrack_db_pool_in_use") <= value(during, "tracetrack_db_pool_size")


def _serving_sockets(worker: psutil.Process, port: int) -> int:
    return sum(1 for c in worker.net_connections("tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


async def test_two_workers_report_the_sum_of_both(hub_process: type[HubProcess], redis_url: str,
                                                  redis_prefix: str, pool: asyncpg.Pool) -> None:
    hub = hub_process(REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix), METRICS_TOKEN=TOKEN)
    hub.start("--workers", "2")
    workers = await asyncio.to_thread(hub.workers, 2)
    account = await make_account(pool)
    scanners: list[RemoteScanner] = []
    codes: collections.Counter[str] = collections.Counter()
    try:
        while len(scanners) < 40 and not all(_serving_sockets(w, hub.port) for w in workers):
            scanner = await RemoteScanner(hub, account).__aenter__()
            scanners.append(scanner)
        assert all(_serving_sockets(w, hub.port) for w in workers), "the kernel gave one worker every socket"
        for scanner in scanners:
            reply = await scanner.do("parent", code=f"SB{random.randrange(100_000):05d}")
            codes[reply["code"]] += 1

        async def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
                return samples((await http.get("/metrics", headers=BEARER)).text)

        deadline = time.monotonic() + 10
        while value(seen := await scrape(), "tracetrack_broker_lag_seconds_count") == 0:
            assert time.monotonic() < deadline, "no batch of one worker reached the other through the broker"
            await asyncio.sleep(0.2)
        for scrape_of_either in [seen, *[await scrape() for _ in range(5)]]:
            assert value(scrape_of_either, "tracetrack_connected", kind="scanner") == len(scanners)
            for code, count in codes.items():
                assert value(scrape_of_either, "tracetrack_scans_total", result=code) == count
            assert value(scrape_of_either, "tracetrack_batch_size_sum") == len(scanners)
            assert value(scrape_of_either, "tracetrack_db_pool_size") >= 2
    finally:
        for scanner in scanners:
            await scanner.__aexit__()


def test_every_garbage_collection_is_timed_by_generation(metered: TestClient) -> None:
    def collections_of(generation: int) -> float:
        scrape = samples(metered.get("/metrics", headers=BEARER).text)
        return value(scrape, "tracetrack_gc_pause_seconds_count", generation=str(generation))

    before = collections_of(2)
    gc.collect()
    gc.collect()
    assert collections_of(2) == before + 2
