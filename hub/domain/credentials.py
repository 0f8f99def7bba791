"""What makes a password or a secret acceptable: the one rule for the API, the CLI, the first admin
and the production start-up checks."""

from __future__ import annotations

from hub.domain.text import text_problem

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MIN_SECRET = 32
"""SESSION_SECRET keys every session token's hash: 32 characters of a random token at least."""
MIN_SECRET_DISTINCT = 8

COMMON_PASSWORDS = frozenset({
    "admin", "administrator", "password", "passw0rd", "password1", "password12", "password123",
    "p@ssw0rd", "p@ssword", "changeme", "changeme1", "changeit", "tracetrack", "tracetrack1",
    "letmein", "letmein1", "welcome", "welcome1", "welcome123", "qwerty", "qwerty123", "qwertyuiop",
    "asdfghjkl", "zxcvbnm", "iloveyou", "monkey", "dragon", "football", "baseball", "sunshine",
    "princess", "superman", "trustno1", "master", "secret", "secret123", "default", "abc12345",
    "abcd1234", "1q2w3e4r", "1qaz2wsx", "12345678", "123456789", "1234567890", "87654321",
    "11111111", "00000000", "12341234", "11223344", "warehouse", "dispatch", "scanner",
    "admin123", "admin1234", "admin12345", "root", "toor", "test", "test1234", "testtest", "guest",
})


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` may not be used (a sentence for people), or None when it may."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"A password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long."
    if text_problem(password, MAX_PASSWORD) is not None:
        return "A password is printable text: no control, invisible or unpaired characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 3:
        return "This password is too easy to guess; choose another."
    if username is not None and lowered == username.strip().lower():
        return "A password must not be the username."
    return None


def secret_problem(secret: str) -> str | None:
    """Why `secret` is too weak to key session tokens, or None."""
    if len(secret) < MIN_SECRET or len(set(secret)) < MIN_SECRET_DISTINCT:
        return (f"must be at least {MIN_SECRET} characters of a random token "
                "(for example `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return None
