"""Settings, defined once: each option has its environment variable, type, default and help.

The CLI help, the README settings table and the start-up checks all read the fields of `Settings`,
so an option is never written out twice.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.credentials import password_problem, secret_problem


class SettingsError(Exception):
    """A setting is malformed or missing; the message names the environment variable."""


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a whole number above 0")
    return value


def _parse_positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("expected a number above 0")
    return value


def _parse_non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("expected a number of 0 or more")
    return value


def _parse_port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _parse_file(raw: str) -> str:
    if not Path(raw).is_file():
        raise ValueError("no such file")
    return raw


def _parse_environment(raw: str) -> str:
    if raw not in ("development", "production"):
        raise ValueError("expected 'development' or 'production'")
    return raw


def _parse_timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone name such as Asia/Kolkata") from None
    return raw


def _parse_log_level(raw: str) -> str:
    level = raw.strip().lower()
    if level not in ("critical", "error", "warning", "info", "debug"):
        raise ValueError("expected critical, error, warning, info or debug")
    return level


def option(env: str, default: Any, help: str, parse: Callable[[str], Any] = str) -> Any:
    """Declare one setting: its environment variable, default, help text and parser."""
    return dataclasses.field(default=default, metadata={"env": env, "help": help, "parse": parse})


@dataclasses.dataclass(frozen=True)
class Settings:
    """The hub's configuration, parsed and typed. Each field is one environment variable."""

    environment: str = option("TRACETRACK_ENV", "development",
        "'production' refuses to start without HTTPS (TLS_CERTFILE or TLS_PROXY), with a short or missing "
        "SESSION_SECRET or with a weak ADMIN_PASSWORD.",
        _parse_environment)
    database_url: str | None = option("DATABASE_URL", None,
        "PostgreSQL URL. Unset: an embedded PostgreSQL is started in the data directory.")
    database_read_url: str | None = option("DATABASE_READ_URL", None,
        "PostgreSQL URL of a streaming replica of DATABASE_URL for reads that may lag: lists, exports and the "
        "dashboards' state. Unset: every read is on DATABASE_URL.")
    database_read_max_lag: float = option("DATABASE_READ_MAX_LAG", 5.0,
        "Seconds the replica of DATABASE_READ_URL may be behind; further behind (or away), its reads go to "
        "DATABASE_URL.", _parse_positive_float)
    redis_url: str | None = option("REDIS_URL", None,
        "Redis URL for fan-out across hub processes. Unset: an in-process broker (one worker only).")
    redis_prefix: str = option("REDIS_PREFIX", "tracetrack",
        "Prefix of the hub's Redis channel and key names, so several deployments can share a Redis.")
    session_secret: str | None = option("SESSION_SECRET", None,
        "Secret mixed into session tokens. Unset in development: one is generated in the data directory.")
    host: str = option("HOST", "127.0.0.1", "Address the hub listens on.")
    port: int = option("PORT", 8000, "Port the hub listens on.", _parse_port)
    data_dir: Path = option("TRACETRACK_DATA_DIR", Path(".tracetrack"),
        "Directory for the embedded PostgreSQL and generated secrets.", Path)
    log_level: str = option("LOG_LEVEL", "info", "Logging level.", _parse_log_level)
    allowed_origins: tuple[str, ...] = option("ALLOWED_ORIGINS", (),
        "Comma-separated extra origins allowed to open websockets and to send requests that change "
        "something; the hub's own origin always is.",
        _parse_list)
    admin_username: str = option("ADMIN_USERNAME", "admin", "Username of the first admin account.")
    admin_password: str | None = option("ADMIN_PASSWORD", None,
        "Password of the first admin account. Unset: one is generated and printed once.")
    session_idle_minutes: int = option("SESSION_IDLE_MINUTES", 30,
        "Minutes without any request or scan after which a session expires.", _parse_positive_int)
    login_failures_per_address: int = option("LOGIN_FAILURES_PER_ADDRESS", 50,
        "Failed logins one client address may make per LOGIN_WINDOW_MINUTES, whatever the accounts; "
        "then it gets 429.", _parse_positive_int)
    login_failures_per_account_address: int = option("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", 10,
        "Failed logins for one account from one client address per LOGIN_WINDOW_MINUTES; then that "
        "address gets 429 for that account (its owner elsewhere logs in as usual).", _parse_positive_int)
    login_failures_per_account: int = option("LOGIN_FAILURES_PER_ACCOUNT", 100,
        "Failed logins for one account from all addresses together per LOGIN_WINDOW_MINUTES (slows "
        "guessing from many addresses; not applied to addresses it logged in from in the last 30 days); "
        "an admin can unlock it.", _parse_positive_int)
    login_window_minutes: int = option("LOGIN_WINDOW_MINUTES", 15,
        "Minutes over which failed logins are counted.", _parse_positive_int)
    api_requests_per_minute: int = option("API_REQUESTS_PER_MINUTE", 3000,
        "Requests to /api/ one client address may make per minute; then it gets 429.", _parse_positive_int)
    cookie_secure: bool = option("COOKIE_SECURE", False,
        "Mark the session cookie Secure (set it when served over HTTPS; always so in production).",
        _parse_bool)
    tls_proxy: bool = option("TLS_PROXY", False,
        "A proxy in front terminates TLS: pages are served as HTTPS (HSTS, Secure cookies).", _parse_bool)
    tls_certfile: str | None = option("TLS_CERTFILE", None,
        "PEM certificate chain: the hub serves HTTPS itself (with TLS_KEYFILE).", _parse_file)
    tls_keyfile: str | None = option("TLS_KEYFILE", None,
        "PEM private key of TLS_CERTFILE.", _parse_file)
    max_body_bytes: int = option("MAX_BODY_BYTES", 1_048_576,
        "Largest HTTP request body accepted, in bytes; a larger one gets 413 before it is read.",
        _parse_positive_int)
    import_max_bytes: int = option("IMPORT_MAX_BYTES", 52_428_800,
        "Largest import file (CSV or Excel) accepted by POST /api/imports, in bytes; the only route "
        "allowed past MAX_BODY_BYTES.", _parse_positive_int)
    import_max_rows: int = option("IMPORT_MAX_ROWS", 200_000,
        "Most rows (blank ones too) an import file may hold; a larger one is refused (split it).", _parse_positive_int)
    batch_max_ops: int = option("BATCH_MAX_OPS", 500,
        "Operations after which the writer closes a batch.", _parse_positive_int)
    batch_max_delay_ms: float = option("BATCH_MAX_DELAY_MS", 2.0,
        "Milliseconds the writer waits for more operations once a batch has started.",
        _parse_positive_float)
    writer_lanes: int = option("WRITER_LANES", 2,
        "Batches the writer may have in flight at once, each on a PostgreSQL connection of its own "
        "(besides DB_POOL_SIZE); a lane is taken only while the ones before it are busy, and an operator's "
        "operations always share one.", _parse_positive_int)
    max_inflight_per_device: int = option("MAX_INFLIGHT_PER_DEVICE", 256,
        "Unacked operations one scanner may have outstanding before the hub stops reading from it.",
        _parse_positive_int)
    max_frame_bytes: int = option("MAX_FRAME_BYTES", 65536,
        "Largest websocket frame accepted from a client, in bytes.", _parse_positive_int)
    seq_window: int = option("SEQ_WINDOW", 100_000,
        "How far above the highest seq the hub has seen from a device an operation's seq may be; "
        "further is answered SEQ_TOO_FAR.", _parse_positive_int)
    scanner_queue_bytes: int = option("SCANNER_QUEUE_BYTES", 1_048_576,
        "Bytes of replies (pongs, errors) queued for one scanner before it is closed as not reading (4008).",
        _parse_positive_int)
    device_ops_per_second: float = option("DEVICE_OPS_PER_SECOND", 200.0,
        "Operations per second one scanner device may send, sustained; the excess is answered RATE_LIMITED.",
        _parse_positive_float)
    device_ops_burst: int = option("DEVICE_OPS_BURST", 2000,
        "Operations one scanner device may send at once above its sustained rate (an outbox resend).",
        _parse_positive_int)
    user_ops_per_second: float = option("USER_OPS_PER_SECOND", 5000.0,
        "Operations per second all scanners of one user may send to one hub process, sustained.",
        _parse_positive_float)
    user_ops_burst: int = option("USER_OPS_BURST", 10_000,
        "Operations all scanners of one user may send at once to one hub process above that rate.",
        _parse_positive_int)
    max_connections: int = option("MAX_CONNECTIONS", 10_000,
        "Websockets (scanners and dashboards) one hub process keeps open; more are closed with 4009.",
        _parse_positive_int)
    max_connections_per_user: int = option("MAX_CONNECTIONS_PER_USER", 1000,
        "Websockets one user (or one wall-screen token) may keep open on one hub process.",
        _parse_positive_int)
    handshake_timeout: float = option("HANDSHAKE_TIMEOUT", 10.0,
        "Seconds a client has to send its request headers, and a scanner its hello, before it is dropped.",
        _parse_positive_float)
    unread_timeout: float = option("UNREAD_TIMEOUT", 30.0,
        "Seconds data sent to a client may stay unacknowledged (it stopped reading, or vanished) before "
        "its connection is dropped.", _parse_positive_float)
    session_recheck_seconds: float = option("SESSION_RECHECK_SECONDS", 30.0,
        "Longest time in seconds between re-checks of an open websocket's login (each comes after a random "
        "80-100 % of it, so that connections opened together spread theirs, and waits up to a second more "
        "for the others due, all answered by one query per kind; revocations also arrive through the broker).",
        _parse_positive_float)
    bag_cache_size: int = option("BAG_CACHE_SIZE", 200_000,
        "Parent bags whose dispatch area is kept in memory, to refuse a scan into another area's parent at the edge.",
        _parse_positive_int)
    dashboard_queue_bytes: int = option("DASHBOARD_QUEUE_BYTES", 1_048_576,
        "Bytes queued for one dashboard before its deltas are replaced by a fresh snapshot.",
        _parse_positive_int)
    dashboard_frames_per_second: int = option("DASHBOARD_FRAMES_PER_SECOND", 8000,
        "Deltas per second one hub process sends all its dashboards together, at most: each gets one every "
        "25 ms, or less often once the hub has more than 1/40 of this many dashboards (each is a socket write).",
        _parse_positive_int)
    db_pool_size: int = option("DB_POOL_SIZE", 10,
        "PostgreSQL connections per hub process for requests (the writer has WRITER_LANES + 1 more).",
        _parse_positive_int)
    timezone: str = option("TIMEZONE", "UTC",
        "Time zone in which a dashboard's 'today' starts at midnight.", _parse_timezone)
    shutdown_timeout: float = option("SHUTDOWN_TIMEOUT", 10.0,
        "Seconds a graceful shutdown may take before pending work is cancelled.", _parse_positive_float)
    drain_notice: float = option("DRAIN_NOTICE_SECONDS", 0.0,
        "Seconds a hub keeps serving after SIGTERM while /ready answers 503, so that a load balancer stops "
        "routing to it before its websockets are closed (behind HAProxy: above its check interval times fall).",
        _parse_non_negative_float)
    metrics_token: str | None = option("METRICS_TOKEN", None,
        "Bearer token a Prometheus scraper sends for /metrics. Unset: /metrics answers 404.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every option from the environment; a malformed value names its variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(field.metadata["env"])
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = field.metadata["parse"](raw)
            except ValueError as exc:
                raise SettingsError(f"{field.metadata['env']}={raw!r} is not valid: {exc}") from None
        settings = cls(**values)
        settings.check_production()
        return settings

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def https(self) -> bool:
        """Whether browsers reach the hub over HTTPS: it serves TLS itself, or a TLS proxy does."""
        return self.tls_proxy or self.tls_certfile is not None

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure or self.https or self.production

    def check_production(self) -> None:
        """Refuse to run in production over plain HTTP, or with a secret or a password nobody chose."""
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise SettingsError("TLS_CERTFILE and TLS_KEYFILE go together: set both or neither")
        if not self.production:
            return
        if not self.session_secret:
            raise SettingsError("SESSION_SECRET must be set when TRACETRACK_ENV=production")
        problem = secret_problem(self.session_secret)
        if problem is not None:
            raise SettingsError(f"SESSION_SECRET {problem}")
        if self.admin_password is not None:
            problem = password_problem(self.admin_password, self.admin_username)
            if problem is not None:
                raise SettingsError(f"ADMIN_PASSWORD is not acceptable in production: {problem}")
        if not self.https:
            raise SettingsError("TRACETRACK_ENV=production serves HTTPS only: set TLS_CERTFILE and TLS_KEYFILE, "
                                "or TLS_PROXY=1 when a proxy in front terminates TLS")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def documented_options() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every option, for the README and `tracetrack serve --help`."""
    rows = []
    for field in dataclasses.fields(Settings):
        default = field.default
        shown = "unset" if default is None else ",".join(default) if isinstance(default, tuple) else str(default)
        rows.append((field.metadata["env"], shown or "empty", field.metadata["help"]))
    return rows

