"""A seed chunk loaded with the per-row triggers off: whatever its rows break, the set-wise checks
(or the constraints, which stay on) refuse it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from hub.store.seeding import Chunk, ChunkRefused, may_load_set_wise, write_chunk
from tests.seeding_support import assert_invariants, chunk_written, planned_chunk


def _set(rows: list[tuple[object, ...]], index: int, column: int, value: object) -> None:
    row = list(rows[index])
    row[column] = value
    rows[index] = tuple(row)


def _bag(chunk: Chunk, bag_id: int) -> int:
    return next(i for i, bag in enumerate(chunk.bags) if bag[0] == bag_id)


def _billed_parent(chunk: Chunk) -> int:
    return chunk.bill_parents[0][0]


def _unbilled_parent(chunk: Chunk) -> int:
    billed = {parent for parent, *_ in chunk.bill_parents}
    return next(int(bag[0]) for bag in chunk.bags if bag[2] == "P" and bag[0] not in billed)


def _other_area(area: str) -> str:
    return "jaipur" if area != "jaipur" else "indore"


def child_in_another_area(chunk: Chunk) -> str:
    i = _bag(chunk, chunk.links[0][0])
    _set(chunk.bags, i, 6, _other_area(chunk.bags[i][6]))
    return "a child in another dispatch area than its parent"


def link_to_no_bag(chunk: Chunk) -> str:
    _set(chunk.links, 0, 1, chunk.ids.stop + 1_000_000)
    return "a link whose parent is not a parent bag of the chunk"


def parent_linked_as_child(chunk: Chunk) -> str:
    _set(chunk.links, 0, 0, _unbilled_parent(chunk))
    return "a link whose child is not a child bag of the chunk"


def link_outside_the_chunk(chunk: Chunk) -> str:
    _set(chunk.links, 0, 0, chunk.ids.stop + 1_000_000)
    return "a link outside the chunk's ids"


def bag_outside_the_chunk(chunk: Chunk) -> str:
    _set(chunk.bags, len(chunk.bags) - 1, 0, chunk.ids.stop + 1_000_000)
    return "a bag outside the chunk's ids"


def parent_of_no_area(chunk: Chunk) -> str:
    parent = _unbilled_parent(chunk)
    for i, bag in enumerate(chunk.bags):
        if bag[0] == parent or any(link[0] == bag[0] and link[1] == parent for link in chunk.links):
            _set(chunk.bags, i, 6, "atlantis")
    return "a bag of an area that does not exist"


def parent_of_no_format(chunk: Chunk) -> str:
    _set(chunk.bags, _bag(chunk, _unbilled_parent(chunk)), 3, "jumbo")
    return "a parent of a format that does not exist"


def incomplete_parent_on_a_bill(chunk: Chunk) -> str:
    parent = _billed_parent(chunk)
    chunk.links.remove(next(link for link in chunk.links if link[1] == parent))
    return "an incomplete parent on a bill"


def parent_on_a_bill_of_another_area(chunk: Chunk) -> str:
    _set(chunk.bills, 0, 4, _other_area(chunk.bills[0][4]))
    return "a parent on a bill of another dispatch area"


def bill_by_no_user(chunk: Chunk) -> str:
    _set(chunk.bills, 0, 5, 10**12)
    return "a bill by a user who does not exist"


def completed_bill_without_parents(chunk: Chunk) -> str:
    bill = chunk.finished[0][0]
    chunk.bill_parents[:] = [row for row in chunk.bill_parents if row[1] != bill]
    return "a bill completed with no parents"


BREAKS = [child_in_another_area, link_to_no_bag, parent_linked_as_child,
          link_outside_the_chunk, bag_outside_the_chunk, parent_of_no_area, parent_of_no_format,
          incomplete_parent_on_a_bill, parent_on_a_bill_of_another_area, bill_by_no_user,
          completed_bill_without_parents]


@pytest.fixture
async def conn(clean_db: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with clean_db.acquire() as connection:
        assert await may_load_set_wise(connection)  # the test server's user is a superuser
        yield connection


async def test_a_chunk_that_keeps_every_rule_commits(clean_db: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    chunk = await planned_chunk(clean_db, 10_000)
    await write_chunk(conn, chunk, set_wise=True)

    await assert_invariants(conn)
    assert await chunk_written(conn, chunk) == {
        "bags": len(chunk.bags), "links": len(chunk.links), "bills": len(chunk.bills), "scans": len(chunk.scans),
        "devices": len(chunk.devices), "scan_stats": len(chunk.stats)}


@pytest.mark.parametrize("break_", BREAKS, ids=[b.__name__ for b in BREAKS])
async def test_a_chunk_that_breaks_a_rule_is_refused_whole(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection, break_: Callable[[Chunk], str]
) -> None:
    chunk = await planned_chunk(clean_db, 10_000)
    rule = break_(chunk)

    with pytest.raises(ChunkRefused) as refused:
        await write_chunk(conn, chunk, set_wise=True)

    assert rule in refused.value.broken
    assert rule in str(refused.value)
    assert set((await chunk_written(conn, chunk)).values()) == {0}


def parent_over_capacity(chunk: Chunk) -> None:
    full = _billed_parent(chunk)
    _set(chunk.links, next(i for i, link in enumerate(chunk.links) if link[1] != full), 1, full)


def child_as_a_parent(chunk: Chunk) -> None:
    _set(chunk.links, 0, 1, chunk.links[1][0])


@pytest.mark.parametrize("break_", [parent_over_capacity, child_as_a_parent])
async def test_the_constraints_stay_on_and_refuse_a_counter_out_of_bounds(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection, break_: Callable[[Chunk], None]
) -> None:
    chunk = await planned_chunk(clean_db, 10_000)
    break_(chunk)

    with pytest.raises(asyncpg.CheckViolationError):
        await write_chunk(conn, chunk, set_wise=True)

    assert set((await chunk_written(conn, chunk)).values()) == {0}
