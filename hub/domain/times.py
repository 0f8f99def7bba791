"""Instants the database can be given: asyncpg converts an aware datetime to UTC before sending it,
and a time near year 1 or 9999 whose offset pushes it past Python's range would overflow there."""

from __future__ import annotations

from datetime import UTC, datetime


def storable(at: datetime) -> datetime | None:
    """`at` in UTC, or None when it has no offset or its UTC time is outside years 1..9999."""
    if at.tzinfo is None or at.utcoffset() is None:
        return None
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return None
