"""What makes a password or a secret acceptable: the one rule for the API, the CLI, the first admin
and the production start-up checks. How guessable a password is, is zxcvbn's estimate (its
dictionaries of common passwords, words, names, keyboard walks and repeats), not a list of our own."""

from __future__ import annotations

from zxcvbn import zxcvbn

from hub.domain.text import text_problem

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MIN_SECRET = 32
"""SESSION_SECRET keys every session token's hash: 32 characters of a random token at least."""
MIN_SECRET_DISTINCT = 8

GUESSABLE_BELOW = 2
"""zxcvbn's score (0-4) a password needs: 2 resists an online attack that is not throttled."""
SCORED_CHARS = 100
"""Only a password's first characters are scored (the estimate's cost grows with its length)."""
HUB_WORDS = ("tracetrack", "warehouse", "dispatch", "scanner", "admin")


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` may not be used (a sentence for people), or None when it may."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"A password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long."
    if text_problem(password, MAX_PASSWORD) is not None:
        return "A password is printable text: no control, invisible or unpaired characters."
    if username is not None and password.lower() == username.strip().lower():
        return "A password must not be the username."
    known = [*HUB_WORDS, *([username] if username else [])]
    if zxcvbn(password[:SCORED_CHARS], user_inputs=known)["score"] < GUESSABLE_BELOW:
        return "This password is too easy to guess; choose another."
    return None


def secret_problem(secret: str) -> str | None:
    """Why `secret` is too weak to key session tokens, or None."""
    if len(secret) < MIN_SECRET or len(set(secret)) < MIN_SECRET_DISTINCT:
        return (f"must be at least {MIN_SECRET} characters of a random token "
                "(for example `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return None
