"""docs/protocol.md against the hub: the code tables both ways, and the limits the document states.

The document is the specification a third party writes a client from, so where it and `hub.codes`
or `hub.protocol` disagree, one of them is wrong.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import asyncpg
import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub import protocol
from hub.codes import CODES, Close, Code
from hub.domain import rules
from tests.hubprocess import create_users, login

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()


def section(number: int) -> str:
    """The text of `## N. ...` up to the next heading of that level."""
    match = re.search(rf"^## {number}\. .*?$(.*?)(?=^#{{1,2}} )", DOC + "\n# end", re.MULTILINE | re.DOTALL)
    assert match, f"docs/protocol.md has no section {number}"
    return match.group(1)


def tables(text: str) -> list[list[list[str]]]:
    """Every markdown table in `text`: its rows (the header first, no separator), cells stripped."""
    found: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                found.append([])
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                found[-1].append(cells)
        previous = line
    return found


def table(text: str, first_header: str | None = None) -> list[list[str]]:
    """The body rows of the first table in `text` (whose first header cell is `first_header`)."""
    for rows in tables(text):
        if first_header is None or rows[0][0] == first_header:
            return rows[1:]
    raise AssertionError(f"no table {first_header or ''}")


def test_the_result_code_table_is_hub_codes_exactly() -> None:
    documented = {row[0].strip("`"): (row[1], row[2]) for row in table(section(7))}
    actual = {code.value: ("yes" if info.retry else "no", info.message) for code, info in CODES.items()}
    assert set(documented) - set(actual) == set(), "documented codes the hub never sends"
    assert set(actual) - set(documented) == set(), "codes the hub sends that the document does not list"
    assert documented == actual
    assert set(CODES) == set(Code), "every Code has its row in CODES"


def test_the_close_code_table_is_hub_close_exactly() -> None:
    rows = table(section(8))
    documented = {int(row[0]) for row in rows}
    assert documented == {close.value for close in Close}
    reconnect = {int(row[0]) for row in rows if row[2].startswith("reconnect")}
    assert reconnect == {close.value for close in Close if close.reconnect}


@pytest.mark.parametrize("stated", [
    f"{protocol.MAX_SEQ - 1}",  # the largest seq
    f"{protocol.MAX_AT}",  # the latest `at`
    f"{protocol.MAX_CODE_CHARS} characters",
    f"{rules.MAX_TEXT} characters",
    f"1-{rules.MAX_BILL_CAPACITY}",
    f"at most {protocol.MAX_REASON}",
    "1-64 characters of `A-Z a-z 0-9 . _ : -`",
    "1-40 characters of `A-Z 0-9 / _ -`",
])
def test_the_document_states_the_limits_the_hub_enforces(stated: str) -> None:
    assert stated in DOC


def test_every_op_and_its_fields_are_documented() -> None:
    documented = {row[0].strip("`"): row[1] for row in table(section(4), "`op`")}
    assert set(documented) == {op.op for op in (rules.ScanParent, rules.ScanChild, rules.Undo, rules.CreateBill,
                                                rules.AddToBill, rules.FinishBill, rules.ReopenBill,
                                                *rules.RETURN_OPERATIONS)}
    assert "`area`" in documented["parent"] and "`area`" in documented["bill_create"]


@pytest.mark.slow
async def test_the_size_limit_applies_to_a_whole_fragmented_message(hub_process: Any, clean_db: asyncpg.Pool) -> None:
    """Section 2: fragments each under MAX_FRAME_BYTES still close 1009 when the message is over it."""
    await create_users(clean_db, ["frag"])
    hub = await asyncio.to_thread(lambda: hub_process(MAX_FRAME_BYTES="4096").start())
    token = await login(hub.url, "frag")
    url = hub.ws_url("/ws/scan")
    async with connect(url, additional_headers={"Cookie": f"tt_session={token}"}, open_timeout=15) as ws:
        await ws.send(msgpack.packb({"t": "hello", "device": "hh-frag", "last_seq": 0}))
        assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 15))["t"] == "welcome"
        small = msgpack.packb({"t": "ping", "id": "y" * 3000})
        await ws.send([small[:1500], small[1500:]])  # a fragmented message under the limit is fine
        assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 15)) == {"t": "pong", "id": "y" * 3000}
        ping = msgpack.packb({"t": "ping", "id": "x" * 5000})
        await ws.send([ping[:3000], ping[3000:]])  # two frames of under 4096 bytes, one message of 5000
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
