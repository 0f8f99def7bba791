"""The broker: one contract suite run against both backends, then what only the Redis broker does.

Redis-only tests cover fan-out between processes, prefix isolation, a Redis that stops, a Redis that
freezes (SIGSTOP: connections stay open but nothing answers), a Redis that is down at start-up, TLS
and Sentinel. Real redis-server processes throughout; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import msgpack
import pytest
import redis

from hub.broker import Broker, BrokerUnavailable, create_broker
from hub.broker.memory import MemoryBroker
from hub.broker.redis import SILENCE_LIMIT, RedisBroker, _parse_sentinel_url
from tests import services

START_LIMIT = 5.0
"""start() returns within this, Redis or no Redis."""
DELIVERY_LIMIT = 5.0
CLOSE_LIMIT = 5.0


class Recorder:
    """The hub's side: records publications and availability changes; waits for either."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.availability: list[bool] = []
        self.fail_on = fail_on
        self._changed = asyncio.Condition()

    async def handle(self, channel: str, payload: bytes) -> None:
        async with self._changed:
            self.received.append((channel, payload))
            self._changed.notify_all()
        if payload == self.fail_on:
            raise ValueError("the hub choked on this one")

    async def on_availability(self, available: bool) -> None:
        async with self._changed:
            self.availability.append(available)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = DELIVERY_LIMIT) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_for_count(self, count: int, timeout: float = DELIVERY_LIMIT) -> None:
        await self.wait_for(lambda: len(self.received) >= count, timeout)

    async def wait_for_payload(self, payload: bytes, timeout: float = DELIVERY_LIMIT) -> None:
        await self.wait_for(lambda: any(got == payload for _, got in self.received), timeout)


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return f"{redis_prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def opened() -> AsyncIterator[list[Broker]]:
    """Brokers a test opened; each is closed (within a time limit) afterwards."""
    brokers: list[Broker] = []
    yield brokers
    for broker in brokers:
        await asyncio.wait_for(broker.close(), CLOSE_LIMIT)


async def start(broker: Broker, opened: list[Broker], recorder: Recorder | None = None) -> Recorder:
    opened.append(broker)
    recorder = recorder or Recorder()
    await asyncio.wait_for(broker.start(recorder.handle, recorder.on_availability), START_LIMIT)
    return recorder


NewBroker = Callable[[], Awaitable[tuple[Broker, Recorder]]]


@pytest.fixture(params=["memory", "redis"])
def new_broker(request: pytest.FixtureRequest, prefix: str, opened: list[Broker]) -> NewBroker:
    """Open a started broker of the backend under test (Redis: the shared server, this test's prefix)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None

    async def new() -> tuple[Broker, Recorder]:
        broker: Broker = RedisBroker(url, prefix) if url else MemoryBroker()
        return broker, await start(broker, opened)

    return new


# The contract: both backends.


async def test_a_publication_reaches_the_handler_exactly_once(new_broker: NewBroker) -> None:
    broker, recorder = await new_broker()
    await broker.publish("scans", b"first")
    await broker.publish("scans", b"marker")
    await recorder.wait_for_payload(b"marker")
    # Anything delivered twice would have come before the marker, on the same connection.
    assert recorder.received == [("scans", b"first"), ("scans", b"marker")]
    assert recorder.availability == []


async def test_one_publishers_order_is_kept(new_broker: NewBroker) -> None:
    broker, recorder = await new_broker()
    sent = [(f"area:{n % 3}", n.to_bytes(4, "big")) for n in range(300)]
    for channel, payload in sent:
        await broker.publish(channel, payload)
    await recorder.wait_for_count(len(sent))
    assert recorder.received == sent


async def test_binary_payloads_and_channel_names_arrive_intact(new_broker: NewBroker) -> None:
    broker, recorder = await new_broker()
    every_byte = bytes(range(256))
    packed = msgpack.packb({"raw": every_byte, "n": [0, -1, 2**63 - 1], "s": "Jaipur ü\x00"})
    sent = [
        ("dashboard", packed),
        ("dashboard", every_byte * 2),
        ("area:sri_ganganagar/ü", b""),
        ("big", every_byte * 4096),  # 1 MiB
        ("end", b"\r\n\x00"),
    ]
    for channel, payload in sent:
        await broker.publish(channel, payload)
    await recorder.wait_for_count(len(sent))
    assert recorder.received == sent
    assert msgpack.unpackb(recorder.received[0][1]) == {"raw": every_byte, "n": [0, -1, 2**63 - 1],
                                                        "s": "Jaipur ü\x00"}


async def test_ping_answers(new_broker: NewBroker) -> None:
    broker, _ = await new_broker()
    await asyncio.wait_for(broker.ping(), 2)


async def test_close_is_idempotent_and_stops_delivery(new_broker: NewBroker) -> None:
    broker, recorder = await new_broker()
    await broker.publish("scans", b"before")
    await recorder.wait_for_payload(b"before")
    await asyncio.wait_for(broker.close(), CLOSE_LIMIT)
    await asyncio.wait_for(broker.close(), CLOSE_LIMIT)
    try:
        await broker.publish("scans", b"after")
    except BrokerUnavailable:
        pass
    await asyncio.sleep(0.2)
    assert recorder.received == [("scans", b"before")]


# The Redis broker only.


async def test_two_processes_receive_each_others_publications(redis_url: str, prefix: str,
                                                              opened: list[Broker]) -> None:
    one, two = RedisBroker(redis_url, prefix), RedisBroker(redis_url, prefix)
    got_one, got_two = await start(one, opened), await start(two, opened)
    await one.publish("scans", b"from one")
    await two.publish("scans", b"from two")
    for recorder in (got_one, got_two):
        await recorder.wait_for_count(2)
        assert recorder.received == [("scans", b"from one"), ("scans", b"from two")]


async def test_a_different_prefix_is_isolated(redis_url: str, prefix: str, opened: list[Broker]) -> None:
    # A prefix with glob characters must not turn into a wider pattern.
    plain, glob = RedisBroker(redis_url, f"{prefix}-x"), RedisBroker(redis_url, f"{prefix}-*")
    got_plain, got_glob = await start(plain, opened), await start(glob, opened)
    await plain.publish("scans", b"plain")
    await glob.publish("scans", b"glob")
    await plain.publish("scans", b"plain again")
    # Redis runs publications in order: had "glob" leaked, it would arrive before "plain again".
    await got_plain.wait_for_payload(b"plain again")
    await got_glob.wait_for_payload(b"glob")
    await glob.publish("scans", b"glob again")
    await got_glob.wait_for_payload(b"glob again")
    assert got_plain.received == [("scans", b"plain"), ("scans", b"plain again")]
    assert got_glob.received == [("scans", b"glob"), ("scans", b"glob again")]


async def test_a_failing_handler_is_logged_and_delivery_goes_on(
        redis_url: str, prefix: str, opened: list[Broker], caplog: pytest.LogCaptureFixture) -> None:
    broker = RedisBroker(redis_url, prefix)
    recorder = await start(broker, opened, Recorder(fail_on=b"boom"))
    with caplog.at_level(logging.ERROR, logger="hub.broker.redis"):
        await broker.publish("scans", b"boom")
        await broker.publish("scans", b"after")
        await recorder.wait_for_payload(b"after")
    assert [payload for _, payload in recorder.received] == [b"boom", b"after"]
    assert any("handler failed" in record.message and record.exc_info for record in caplog.records)
    assert recorder.availability == []


async def test_an_idle_subscription_stays_available(redis_url: str, prefix: str,
                                                  opened: list[Broker]) -> None:
    """Nothing published for longer than the silence limit: PINGs keep it trusted, over RESP2 and RESP3."""
    separator = "&" if "?" in redis_url else "?"
    brokers = [RedisBroker(f"{redis_url}{separator}protocol={protocol}", prefix) for protocol in (2, 3)]
    recorders = [await start(broker, opened) for broker in brokers]
    await asyncio.sleep(SILENCE_LIMIT + 1)
    await brokers[0].publish("scans", b"still here")
    for recorder in recorders:
        await recorder.wait_for_payload(b"still here")
        assert recorder.availability == []


async def test_create_broker_picks_the_backend(redis_url: str, prefix: str) -> None:
    assert isinstance(create_broker(None, prefix), MemoryBroker)
    broker = create_broker(redis_url, prefix)
    assert isinstance(broker, RedisBroker)
    await broker.close()
    await broker.close()  # never started: closing is still fine


@asynccontextmanager
async def private_redis(start: bool = True) -> AsyncIterator[services.RedisProcess]:
    """A redis-server of this test's own, which it may stop, start, freeze and thaw."""
    server = services.RedisProcess(services.free_port())
    try:
        if start:
            await asyncio.to_thread(server.start)
        yield server
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        await asyncio.to_thread(server.stop)


async def test_redis_stopping_and_coming_back(prefix: str, opened: list[Broker]) -> None:
    async with private_redis() as server:
        broker = RedisBroker(server.url, prefix)
        recorder = await start(broker, opened)
        await broker.publish("scans", b"before")
        await recorder.wait_for_payload(b"before")

        await asyncio.to_thread(server.stop)
        began = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.publish("scans", b"into the void"), 2)
        assert time.monotonic() - began < 1.0
        await recorder.wait_for(lambda: recorder.availability == [False], 3)
        began = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.publish("scans", b"still nothing"), 2)
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.ping(), 2)
        assert time.monotonic() - began < 1.0

        await asyncio.to_thread(server.start)
        await recorder.wait_for(lambda: recorder.availability == [False, True], 6)
        await broker.ping()
        await broker.publish("scans", b"after")
        await recorder.wait_for_payload(b"after")
        assert recorder.received == [("scans", b"before"), ("scans", b"after")]
        assert recorder.availability == [False, True]


async def test_a_frozen_redis_never_hangs_a_call(prefix: str, opened: list[Broker]) -> None:
    async with private_redis() as server:
        assert server.process is not None
        broker = RedisBroker(server.url, prefix)
        recorder = await start(broker, opened)
        unstarted = RedisBroker(server.url, prefix)  # publishes straight to Redis: nothing to short-cut it
        opened.append(unstarted)
        await unstarted.ping()

        server.process.send_signal(signal.SIGSTOP)  # connections stay open; nothing answers
        try:
            began = time.monotonic()
            publish, ping = await asyncio.wait_for(asyncio.gather(
                unstarted.publish("scans", b"maybe"), broker.ping(), return_exceptions=True), 3)
            assert isinstance(publish, BrokerUnavailable)
            assert isinstance(ping, BrokerUnavailable)
            assert time.monotonic() - began < 1.8
            await recorder.wait_for(lambda: recorder.availability == [False], SILENCE_LIMIT + 2)
            with pytest.raises(BrokerUnavailable):
                await asyncio.wait_for(broker.publish("scans", b"refused"), 0.5)
            began = time.monotonic()
            await asyncio.wait_for(unstarted.close(), CLOSE_LIMIT)
            assert time.monotonic() - began < 2.5
        finally:
            server.process.send_signal(signal.SIGCONT)

        await recorder.wait_for(lambda: recorder.availability == [False, True], 6)
        await broker.publish("scans", b"thawed")
        await recorder.wait_for_payload(b"thawed")
        assert recorder.availability == [False, True]


async def test_start_with_redis_down_then_connects(prefix: str, opened: list[Broker]) -> None:
    async with private_redis(start=False) as server:
        broker = RedisBroker(server.url, prefix)
        began = time.monotonic()
        recorder = await start(broker, opened)
        assert time.monotonic() - began < 1.0
        assert recorder.availability == [False]
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.publish("scans", b"too early"), 2)
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(broker.ping(), 2)

        await asyncio.to_thread(server.start)
        await recorder.wait_for(lambda: recorder.availability == [False, True], 6)
        await broker.publish("scans", b"hello")
        await recorder.wait_for_payload(b"hello")
        assert recorder.received == [("scans", b"hello")]


async def test_close_while_redis_is_down_is_quick(prefix: str) -> None:
    broker = RedisBroker(f"redis://127.0.0.1:{services.free_port()}/0", prefix)
    recorder = Recorder()
    await asyncio.wait_for(broker.start(recorder.handle, recorder.on_availability), START_LIMIT)
    assert recorder.availability == [False]
    began = time.monotonic()
    await asyncio.wait_for(broker.close(), CLOSE_LIMIT)
    await asyncio.wait_for(broker.close(), CLOSE_LIMIT)
    assert time.monotonic() - began < 1.0
    with pytest.raises(BrokerUnavailable):
        await broker.publish("scans", b"closed")


# TLS and Sentinel: real servers of the test's own.


def _redis_binary() -> str:
    try:
        return services.redis_binary()
    except (RuntimeError, ImportError):
        pytest.skip("no redis-server")


@asynccontextmanager
async def server_process(args: list[str], answers: Callable[[], bool]) -> AsyncIterator[None]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(answers):
            if process.poll() is not None:
                pytest.skip(f"{Path(args[0]).name} {' '.join(args[1:3])} exited: not supported here")
            assert time.monotonic() < deadline, f"{args} did not start"
            await asyncio.sleep(0.05)
        yield
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


def _answers(url: str, **options: object) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1, **options)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


async def test_tls_url(prefix: str, opened: list[Broker], tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(subprocess.run, [
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    port = services.free_port()
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    args = [_redis_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
            "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"]
    async with server_process(args, lambda: _answers(url)):
        broker = RedisBroker(url, prefix)
        recorder = await start(broker, opened)
        await broker.ping()
        await broker.publish("scans", b"over tls")
        await recorder.wait_for_payload(b"over tls")
        assert recorder.availability == []


async def test_sentinel_url(prefix: str, opened: list[Broker], tmp_path: Path) -> None:
    async with private_redis() as master:
        sentinel_port = services.free_port()
        config = tmp_path / "sentinel.conf"
        config.write_text(f"port {sentinel_port}\nbind 127.0.0.1\n"
                          f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n")

        def sentinel_knows_master() -> bool:
            client = redis.Redis(port=sentinel_port, socket_connect_timeout=1, socket_timeout=1)
            try:
                return client.sentinel_get_master_addr_by_name("mymaster") is not None
            except (redis.RedisError, OSError):
                return False
            finally:
                client.close()

        async with server_process([_redis_binary(), str(config), "--sentinel"], sentinel_knows_master):
            url = f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster/0"
            one, two = RedisBroker(url, prefix), RedisBroker(master.url, prefix)
            got_one, got_two = await start(one, opened), await start(two, opened)
            await one.ping()
            await one.publish("scans", b"via sentinel")
            await two.publish("scans", b"direct")
            for recorder in (got_one, got_two):
                await recorder.wait_for_count(2)
                assert recorder.received == [("scans", b"via sentinel"), ("scans", b"direct")]
            assert got_one.availability == []


def test_sentinel_urls_are_parsed() -> None:
    assert _parse_sentinel_url("redis+sentinel://s1:26380,s2,[::1]:26381/mymaster/2") == (
        [("s1", 26380), ("s2", 26379), ("::1", 26381)], "mymaster", {"db": 2})
    assert _parse_sentinel_url("redis+sentinel://hub:p%40ss@s1/main") == (
        [("s1", 26379)], "main", {"username": "hub", "password": "p@ss"})
    assert _parse_sentinel_url("redis+sentinel://:secret@s1/main")[2] == {"password": "secret"}
    for bad in ("redis+sentinel://s1", "redis+sentinel://s1/a/0/x", "redis+sentinel://:26379/main"):
        with pytest.raises(ValueError):
            _parse_sentinel_url(bad)
