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


def _parse_port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


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
        "'production' makes a missing SESSION_SECRET or a default ADMIN_PASSWORD a start-up error.",
        _parse_environment)
    database_url: str | None = option("DATABASE_URL", None,
        "PostgreSQL URL. Unset: an embedded PostgreSQL is started in the data directory.")
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
        "Comma-separated extra origins allowed to open websockets; the hub's own origin always is.",
        _parse_list)
    admin_username: str = option("ADMIN_USERNAME", "admin", "Username of the first admin account.")
    admin_password: str | None = option("ADMIN_PASSWORD", None,
        "Password of the first admin account. Unset: one is generated and printed once.")
    session_idle_minutes: int = option("SESSION_IDLE_MINUTES", 30,
        "Minutes without any request or scan after which a session expires.", _parse_positive_int)
    login_max_failures: int = option("LOGIN_MAX_FAILURES", 5,
        "Failed logins in a row that lock an account.", _parse_positive_int)
    login_lockout_minutes: int = option("LOGIN_LOCKOUT_MINUTES", 15,
        "Minutes an account stays locked after too many failed logins.", _parse_positive_int)
    cookie_secure: bool = option("COOKIE_SECURE", False,
        "Mark the session cookie Secure (set it when served over HTTPS).", _parse_bool)
    batch_max_ops: int = option("BATCH_MAX_OPS", 500,
        "Operations after which the writer closes a batch.", _parse_positive_int)
    batch_max_delay_ms: float = option("BATCH_MAX_DELAY_MS", 2.0,
        "Milliseconds the writer waits for more operations once a batch has started.",
        _parse_positive_float)
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
    device_ops_per_second: float = option("DEVICE_OPS_PER_SECOND", 1000.0,
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
    session_recheck_seconds: float = option("SESSION_RECHECK_SECONDS", 30.0,
        "Seconds between re-checks of an open websocket's login (revocations also arrive through the broker).",
        _parse_positive_float)
    bag_cache_size: int = option("BAG_CACHE_SIZE", 200_000,
        "Bags kept in the in-memory validation cache.", _parse_positive_int)
    dashboard_queue_bytes: int = option("DASHBOARD_QUEUE_BYTES", 1_048_576,
        "Bytes queued for one dashboard before its deltas are replaced by a fresh snapshot.",
        _parse_positive_int)
    db_pool_size: int = option("DB_POOL_SIZE", 10,
        "PostgreSQL connections per hub process.", _parse_positive_int)
    timezone: str = option("TIMEZONE", "UTC",
        "Time zone in which a dashboard's 'today' starts at midnight.", _parse_timezone)
    shutdown_timeout: float = option("SHUTDOWN_TIMEOUT", 10.0,
        "Seconds a graceful shutdown may take before pending work is cancelled.", _parse_positive_float)

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

    def check_production(self) -> None:
        """Refuse to run in production with a secret or a password nobody chose."""
        if not self.production:
            return
        if not self.session_secret:
            raise SettingsError("SESSION_SECRET must be set when TRACETRACK_ENV=production")
        if self.admin_password is not None and self.admin_password.lower() in DEFAULT_PASSWORDS:
            raise SettingsError("ADMIN_PASSWORD is a well-known default; choose another for production")

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


DEFAULT_PASSWORDS = frozenset({"admin", "password", "changeme", "tracetrack"})
