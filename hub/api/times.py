"""Instants as the API writes them: ISO 8601 with the offset (UTC, as PostgreSQL returns them)."""

from __future__ import annotations

from datetime import datetime


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
