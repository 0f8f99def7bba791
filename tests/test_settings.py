"""Settings: every option is documented where operators look, typed, and checked at start-up."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.settings import Settings, SettingsError, documented_options

README = Path(__file__).resolve().parent.parent / "README.md"
FIELDS = dataclasses.fields(Settings)
PRODUCTION = {"TRACETRACK_ENV": "production", "SESSION_SECRET": "kP3vX9qLm2ZtR8wYc4NbH7jF1sDgA6eU", "TLS_PROXY": "1"}


def words(text: str) -> str:
    return " ".join(text.split())


def readme_table() -> list[str]:
    """The README's settings table as it must read: one row per option, in declaration order."""

    def cell(default: str) -> str:
        return f"*{default}*" if default in ("unset", "empty") else f"`{default}`"

    rows = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    return rows + [f"| `{env}` | {cell(default)} | {help} |" for env, default, help in documented_options()]


@pytest.mark.parametrize("field", FIELDS, ids=lambda field: field.name)
def test_every_option_declares_variable_help_and_parser(field: dataclasses.Field[object]) -> None:
    env = field.metadata.get("env")
    assert env and env == env.upper(), f"{field.name} has no environment variable"
    assert field.metadata.get("help", "").endswith("."), f"{env} has no help sentence"
    assert callable(field.metadata.get("parse"))


def test_variables_are_unique() -> None:
    names = [field.metadata["env"] for field in FIELDS]
    assert len(names) == len(set(names))


def test_every_option_is_in_serve_help() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=100)
    assert result.exit_code == 0
    for env, default, help in documented_options():
        assert env in result.output
        assert f"{words(help)} [default: {default}]" in words(result.output)


def test_every_option_is_in_the_readme_table() -> None:
    _, _, section = README.read_text().partition("\n## Settings\n")
    table = [line for line in section.splitlines() if line.startswith("|")]
    expected = readme_table()
    assert table == expected, "README.md's settings table should read:\n" + "\n".join(expected)


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env({
        "PORT": "9000", "COOKIE_SECURE": "yes", "ALLOWED_ORIGINS": "https://a.example, https://b.example,",
        "TRACETRACK_DATA_DIR": "/var/lib/tracetrack", "BATCH_MAX_DELAY_MS": "0.5", "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
    })
    assert settings.port == 9000
    assert settings.cookie_secure is True
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.data_dir == Path("/var/lib/tracetrack")
    assert settings.batch_max_delay_ms == 0.5
    assert settings.log_level == "warning"
    assert settings.redis_url is None, "an empty variable counts as unset"


def test_defaults_need_no_environment() -> None:
    assert Settings.from_env({}) == Settings()


TYPED = [field for field in FIELDS if isinstance(field.default, (bool, int, float))]


@pytest.mark.parametrize("field", TYPED, ids=lambda field: field.metadata["env"])
def test_a_malformed_number_or_flag_names_its_variable(field: dataclasses.Field[object]) -> None:
    env = field.metadata["env"]
    with pytest.raises(SettingsError, match=rf"^{env}='nonsense' is not valid"):
        Settings.from_env({env: "nonsense"})


@pytest.mark.parametrize(("env", "raw"), [
    ("PORT", "0"), ("PORT", "70000"), ("BATCH_MAX_OPS", "0"), ("BATCH_MAX_OPS", "-5"),
    ("BATCH_MAX_DELAY_MS", "-1"), ("SHUTDOWN_TIMEOUT", "0"), ("LOG_LEVEL", "loud"),
    ("TRACETRACK_ENV", "staging"), ("COOKIE_SECURE", "maybe"),
])
def test_an_out_of_range_value_names_its_variable(env: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{env}=.* is not valid: expected"):
        Settings.from_env({env: raw})


def test_production_needs_a_session_secret() -> None:
    with pytest.raises(SettingsError, match="SESSION_SECRET"):
        Settings.from_env({"TRACETRACK_ENV": "production"})


@pytest.mark.parametrize("password", ["admin", "Password", "changeme", "tracetrack", "a", "aaaaaaaaaaaa",
                                      "Password123", "admin123", "password1234", "adminadminadmin",
                                      "qwertyuiop12", "warehouse1"])
def test_production_refuses_a_weak_admin_password(password: str) -> None:
    with pytest.raises(SettingsError, match="^ADMIN_PASSWORD is not acceptable in production: "):
        Settings.from_env({**PRODUCTION, "ADMIN_PASSWORD": password})


def test_production_refuses_the_admin_username_as_password() -> None:
    with pytest.raises(SettingsError, match="must not be the username"):
        Settings.from_env({**PRODUCTION, "ADMIN_USERNAME": "warehouse-boss", "ADMIN_PASSWORD": "Warehouse-Boss"})


@pytest.mark.parametrize("secret", ["a", "s3cret", "x" * 64, "ab" * 20, "abcde" * 8, "1234567" * 5])
def test_production_refuses_a_short_or_repetitive_session_secret(secret: str) -> None:
    with pytest.raises(SettingsError, match="^SESSION_SECRET must be at least 32 characters"):
        Settings.from_env({**PRODUCTION, "SESSION_SECRET": secret})


def test_production_refuses_plain_http() -> None:
    with pytest.raises(SettingsError, match="TLS_CERTFILE and TLS_KEYFILE, or TLS_PROXY=1"):
        Settings.from_env({key: value for key, value in PRODUCTION.items() if key != "TLS_PROXY"})


def test_production_over_https_of_its_own_starts(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("certificate")
    (tmp_path / "key.pem").write_text("key")
    files = {"TLS_CERTFILE": str(tmp_path / "cert.pem"), "TLS_KEYFILE": str(tmp_path / "key.pem")}
    settings = Settings.from_env({**PRODUCTION, "TLS_PROXY": "", **files})
    assert settings.https and settings.secure_cookies
    with pytest.raises(SettingsError, match="TLS_CERTFILE and TLS_KEYFILE go together"):
        Settings.from_env({"TLS_CERTFILE": files["TLS_CERTFILE"]})
    with pytest.raises(SettingsError, match=r"^TLS_KEYFILE=.* is not valid: no such file"):
        Settings.from_env({**files, "TLS_KEYFILE": str(tmp_path / "missing.pem")})


def test_cookies_are_secure_in_production_or_over_https() -> None:
    assert not Settings().secure_cookies
    assert Settings(cookie_secure=True).secure_cookies
    assert Settings(tls_proxy=True).secure_cookies and Settings(tls_proxy=True).https
    assert Settings.from_env(PRODUCTION).secure_cookies


def test_production_with_chosen_secrets_starts() -> None:
    assert Settings.from_env({**PRODUCTION, "ADMIN_PASSWORD": "a-chosen-password"}).production
    assert Settings.from_env({**PRODUCTION, "TLS_PROXY": "yes"}).https
    assert Settings.from_env(PRODUCTION).admin_password is None, "unset: one is generated"


def test_development_needs_neither() -> None:
    settings = Settings.from_env({"ADMIN_PASSWORD": "admin"})
    assert not settings.production
    assert settings.session_secret is None
