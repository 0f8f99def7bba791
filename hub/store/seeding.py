"""SQL of `tracetrack seed`: one planned chunk of rows, written in one transaction.

A chunk is loaded one of two ways, to the same rows:

- Set-wise, where the connection may set `session_replication_role` (a superuser, or a role granted
  SET on it): the bulk rows go in with the per-row triggers off, as pg_restore loads data, and the
  same transaction then does what those triggers and foreign keys do, over the chunk's rows at once.
  The counters are computed by one statement each; the key, kind and area checks are queries over the
  chunk that refuse it (`ChunkRefused`) when any row breaks one; the rows the keys point to outside
  the chunk are locked as the key checks lock them. Then the triggers are back on for the scans.
- Through the triggers, row by row, otherwise.

Either way the chunk commits whole with every invariant holding, or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from hub.store import batches

TIMEOUT = 120.0
"""A chunk's COPY moves tens of thousands of rows."""

BAG_COLUMNS = ("id", "code", "kind", "format", "capacity", "expected_kg", "area", "created_by", "created_at")
LINK_COLUMNS = ("child_id", "parent_id", "linked_by", "linked_at")
BILL_PARENT_COLUMNS = ("parent_id", "bill_id", "added_by", "added_at")


@dataclass
class Chunk:
    """The rows of one transaction.

    Its bags take the ids in `ids` (reserved for the run, so no one else writes them); its links
    and bill_parents are keyed by (and point to) bags of the chunk, its bills hold parents of the
    chunk only. New bags hold no children and are on no bill: the links and bill_parents fill them.
    """

    ids: range = range(0)
    bags: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[Any, ...]] = field(default_factory=list)
    bills: list[tuple[Any, ...]] = field(default_factory=list)
    bill_parents: list[tuple[int, str, int, datetime]] = field(default_factory=list)
    """(parent id, bill code, added by, added at)."""
    finished: list[tuple[str, datetime]] = field(default_factory=list)
    scans: list[tuple[Any, ...]] = field(default_factory=list)
    devices: dict[str, tuple[int, int]] = field(default_factory=dict)
    stats: dict[tuple[int, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 5))
    """Per (minute since the epoch, area, device): accepted, rejected, linked, completed, finished."""


class ChunkRefused(Exception):
    """A chunk loaded set-wise broke a rule the triggers or keys hold; nothing of it was written."""

    def __init__(self, broken: dict[str, int]) -> None:
        self.broken = broken
        super().__init__("seed chunk refused: " + "; ".join(f"{rule} ({n})" for rule, n in broken.items()))


async def may_load_set_wise(conn: asyncpg.Connection) -> bool:
    """Whether this connection may turn the per-row triggers off for its own transaction."""
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica", timeout=TIMEOUT)
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True


async def write_chunk(conn: asyncpg.Connection, chunk: Chunk, set_wise: bool) -> None:
    """One chunk, one transaction, in the order the constraints need: bags, links, bills, scans.

    No commit waits for its WAL to reach the disk: a seed run lost to a crash is run again.
    """
    first, last = chunk.ids.start, chunk.ids.stop - 1
    async with conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off", timeout=TIMEOUT)
        if set_wise:
            await conn.execute("SET LOCAL session_replication_role = replica", timeout=TIMEOUT)
        await conn.copy_records_to_table("bags", records=chunk.bags, columns=BAG_COLUMNS, timeout=TIMEOUT)
        if chunk.links:
            await conn.copy_records_to_table("links", records=chunk.links, columns=LINK_COLUMNS, timeout=TIMEOUT)
        # The trigger stamps a completion with the transaction's time; history has its own.
        await conn.execute(_COUNT_LINKS if set_wise else _STAMP_COMPLETIONS, first, last, timeout=TIMEOUT)
        bills = await _write_bills(conn, chunk, set_wise) if chunk.bills else []
        if set_wise:
            await _check(conn, chunk, bills)
            await conn.execute("SET LOCAL session_replication_role = origin", timeout=TIMEOUT)
        if chunk.scans:
            await _write_scans(conn, chunk)


# What links_count_insert does, for all the chunk's links at once, completions stamped with the time
# of the link that filled the parent.
_COUNT_LINKS = """
    UPDATE bags b
       SET child_count = b.child_count + n.added,
           completed_at = CASE WHEN b.child_count + n.added = b.capacity THEN n.last END
      FROM (SELECT parent_id, count(*)::integer AS added, max(linked_at) AS last FROM links
             WHERE child_id BETWEEN $1 AND $2 GROUP BY parent_id) n
     WHERE b.id = n.parent_id"""

_STAMP_COMPLETIONS = """
    UPDATE bags b SET completed_at = n.last
      FROM (SELECT parent_id, max(linked_at) AS last FROM links
             WHERE child_id BETWEEN $1 AND $2 GROUP BY parent_id) n
     WHERE b.id = n.parent_id AND b.completed_at IS NOT NULL"""

# What bill_parents_insert and bill_parents_mark_on do, for all the chunk's bill parents at once.
_COUNT_BILL_PARENTS = """
    WITH added AS (SELECT parent_id, bill_id FROM bill_parents WHERE parent_id BETWEEN $1 AND $2),
         marked AS (UPDATE bags SET on_bill = true WHERE id IN (SELECT parent_id FROM added))
    UPDATE bills l SET parent_count = l.parent_count + n.added
      FROM (SELECT bill_id, count(*)::integer AS added FROM added GROUP BY bill_id) n
     WHERE l.id = n.bill_id"""


async def _write_bills(conn: asyncpg.Connection, chunk: Chunk, set_wise: bool) -> list[int]:
    """Open bills, their parents (counted by the trigger or set-wise), then the completions."""
    rows = await conn.fetch(
        """INSERT INTO bills (code, capacity, destination, vehicle, area, created_by, created_at)
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                                $7::timestamptz[])
           RETURNING id, code""",
        *([bill[i] for bill in chunk.bills] for i in range(7)), timeout=TIMEOUT,
    )
    ids = {row["code"]: row["id"] for row in rows}
    await conn.copy_records_to_table(
        "bill_parents", columns=BILL_PARENT_COLUMNS, timeout=TIMEOUT,
        records=[(parent_id, ids[bill], user, at) for parent_id, bill, user, at in chunk.bill_parents],
    )
    if set_wise:
        await conn.execute(_COUNT_BILL_PARENTS, chunk.ids.start, chunk.ids.stop - 1, timeout=TIMEOUT)
    if chunk.finished:
        await conn.execute(
            """UPDATE bills l SET status = 'completed', completed_at = f.at
                 FROM unnest($1::text[], $2::timestamptz[]) AS f(code, at) WHERE l.code = f.code""",
            [code for code, _ in chunk.finished], [at for _, at in chunk.finished], timeout=TIMEOUT,
        )
    return list(ids.values())


# The chunk's rows as this transaction sees them ($1..$2: its bag ids, $3: its bills), summed up, and
# the rows its keys point to outside it, locked FOR KEY SHARE as a key check locks them.
_CHUNK = """
    WITH bag_groups AS MATERIALIZED (
             SELECT area, format, count(*) AS n FROM bags WHERE id BETWEEN $1 AND $2 GROUP BY area, format),
         chunk_bills AS MATERIALIZED (
             SELECT id, area, created_by, status, parent_count FROM bills WHERE id = ANY($3::bigint[])),
         known_areas AS (
             SELECT name FROM areas WHERE name IN (SELECT area FROM bag_groups UNION SELECT area FROM chunk_bills)
              ORDER BY name FOR KEY SHARE),
         known_formats AS (
             SELECT name FROM parent_formats WHERE name IN (SELECT format FROM bag_groups)
              ORDER BY name FOR KEY SHARE),
         known_users AS (
             SELECT id FROM users WHERE id IN (SELECT created_by FROM chunk_bills) ORDER BY id FOR KEY SHARE),
         link_rows AS (
             SELECT count(*) AS n,
                    count(*) FILTER (WHERE c.id IS NULL) AS no_child,
                    count(*) FILTER (WHERE p.id IS NULL) AS no_parent,
                    count(*) FILTER (WHERE c.area <> p.area) AS other_area
               FROM links l
               LEFT JOIN bags c ON c.id = l.child_id AND c.kind = 'C' AND c.id BETWEEN $1 AND $2
               LEFT JOIN bags p ON p.id = l.parent_id AND p.kind = 'P' AND p.id BETWEEN $1 AND $2
              WHERE l.child_id BETWEEN $1 AND $2),
         bill_rows AS (
             SELECT count(*) AS n,
                    count(*) FILTER (WHERE p.id IS NULL) AS no_parent,
                    count(*) FILTER (WHERE l.id IS NULL) AS no_bill,
                    count(*) FILTER (WHERE p.child_count < p.capacity) AS incomplete,
                    count(*) FILTER (WHERE p.area <> l.area) AS other_area
               FROM bill_parents bp
               LEFT JOIN bags p ON p.id = bp.parent_id AND p.kind = 'P' AND p.id BETWEEN $1 AND $2
               LEFT JOIN chunk_bills l ON l.id = bp.bill_id
              WHERE bp.parent_id BETWEEN $1 AND $2)"""

# Rule -> how many of the chunk's rows break it. $4, $5, $6: the bags, links and bill parents sent;
# the run reserved the chunk's ids, so all of them are seen there unless some lie outside.
CHECKS = {
    "a bag outside the chunk's ids": "$4 - (SELECT sum(n) FROM bag_groups)",
    "a bag of an area that does not exist":
        "(SELECT sum(n) FROM bag_groups WHERE area NOT IN (SELECT name FROM known_areas))",
    "a parent of a format that does not exist":
        "(SELECT sum(n) FROM bag_groups WHERE format NOT IN (SELECT name FROM known_formats))",
    "a link outside the chunk's ids": "$5 - (SELECT n FROM link_rows)",
    "a link whose child is not a child bag of the chunk": "(SELECT no_child FROM link_rows)",
    "a link whose parent is not a parent bag of the chunk": "(SELECT no_parent FROM link_rows)",
    "a child in another dispatch area than its parent": "(SELECT other_area FROM link_rows)",
    "a bill parent outside the chunk's ids": "$6 - (SELECT n FROM bill_rows)",
    "a bill parent that is not a parent bag of the chunk": "(SELECT no_parent FROM bill_rows)",
    "a parent on a bill not of the chunk": "(SELECT no_bill FROM bill_rows)",
    "an incomplete parent on a bill": "(SELECT incomplete FROM bill_rows)",
    "a parent on a bill of another dispatch area": "(SELECT other_area FROM bill_rows)",
    "a bill of an area that does not exist":
        "(SELECT count(*) FROM chunk_bills WHERE area NOT IN (SELECT name FROM known_areas))",
    "a bill by a user who does not exist":
        "(SELECT count(*) FROM chunk_bills WHERE created_by NOT IN (SELECT id FROM known_users))",
    "a bill completed with no parents":
        "(SELECT count(*) FROM chunk_bills WHERE status <> 'open' AND parent_count = 0)",
}
_CHECK = _CHUNK + "\nSELECT " + ",\n       ".join(f"coalesce({sql}, 0)::bigint" for sql in CHECKS.values())


async def _check(conn: asyncpg.Connection, chunk: Chunk, bills: list[int]) -> None:
    """Refuse the chunk if any of its rows breaks a rule the disabled triggers and keys hold."""
    # Hash joins over the chunk's id ranges, whatever the statistics say: a fresh database's (no rows
    # yet) would have the planner loop over one range for every row of the other.
    await conn.execute("SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off", timeout=TIMEOUT)
    row = await conn.fetchrow(_CHECK, chunk.ids.start, chunk.ids.stop - 1, bills,
                              len(chunk.bags), len(chunk.links), len(chunk.bill_parents), timeout=TIMEOUT)
    await conn.execute("RESET enable_nestloop; RESET enable_mergejoin", timeout=TIMEOUT)
    assert row is not None
    broken = {rule: n for rule, n in zip(CHECKS, row) if n}
    if broken:
        raise ChunkRefused(broken)


async def _write_scans(conn: asyncpg.Connection, chunk: Chunk) -> None:
    """The scans, their devices' last seq and their per-minute counts (keys in order: no deadlock
    between the writers, which share devices)."""
    await batches.record_scans(conn, chunk.scans)
    latest = max(scan[-1] for scan in chunk.scans)
    await batches.advance_devices(conn, dict(sorted(chunk.devices.items())), latest)
    await batches.add_stats(conn, {(datetime.fromtimestamp(minute * 60, UTC), area, device): counts
                                   for (minute, area, device), counts in sorted(chunk.stats.items())})
