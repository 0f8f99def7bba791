"""`Fifo`, the deque stand-in of the scanner sessions and uvicorn's inbox: order kept, memory let go."""

from __future__ import annotations

import sys
from collections import deque

import pytest

from hub.fifo import COMPACT_AFTER, Fifo


def test_items_come_out_in_the_order_they_went_in_whatever_the_interleaving() -> None:
    fifo: Fifo[int] = Fifo()
    model: deque[int] = deque()
    for step in range(5000):
        if step % 7 in (0, 3, 5) and model:
            assert fifo.first() == model[0]
            assert fifo.popleft() == model.popleft()
        else:
            fifo.append(step)
            model.append(step)
        assert len(fifo) == len(model) and bool(fifo) == bool(model)
    while model:
        assert fifo.popleft() == model.popleft()
    assert not fifo and len(fifo) == 0


def test_an_empty_fifo_raises_index_error_like_a_deque() -> None:
    fifo: Fifo[str] = Fifo()
    with pytest.raises(IndexError):
        fifo.popleft()
    with pytest.raises(IndexError):
        fifo.first()
    fifo.append("a")
    fifo.clear()
    assert not fifo
    with pytest.raises(IndexError):
        fifo.popleft()


def test_what_was_read_is_let_go_and_the_list_stays_within_twice_what_is_unread() -> None:
    fifo: Fifo[bytes] = Fifo()
    for _ in range(10 * COMPACT_AFTER):
        fifo.append(b"x")
        fifo.append(b"y")
        fifo.popleft()
        assert len(fifo._items) <= max(2 * len(fifo), COMPACT_AFTER) + 1
    assert all(item is None for item in fifo._items[:fifo._head])


def test_an_empty_fifo_is_far_smaller_than_an_empty_deque() -> None:
    fifo: Fifo[int] = Fifo()
    assert (sys.getsizeof(fifo) + sys.getsizeof(fifo._items)) * 5 < sys.getsizeof(deque())
