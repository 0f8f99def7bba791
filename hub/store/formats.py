"""Parent formats: configuration kept in PostgreSQL."""

from __future__ import annotations

import asyncpg

from hub.domain.bagcodes import ParentFormat


async def load(pool: asyncpg.Pool) -> tuple[ParentFormat, ...]:
    """Every parent format, the most specific (longest pattern) first."""
    rows = await pool.fetch(
        "SELECT name, pattern, capacity, expected_kg FROM parent_formats ORDER BY length(pattern) DESC, name",
        timeout=10,
    )
    return tuple(ParentFormat(r["name"], r["pattern"], r["capacity"], r["expected_kg"]) for r in rows)
