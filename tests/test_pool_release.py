"""A connection given back to a pool of the hub's (`create_pool`: requests and the writer alike):
its transaction ends, nothing else is run.

asyncpg's reset query was one more round trip on every release; the hub leaves no session state
that it would clear. These hold the two halves of that on a real PostgreSQL.
"""

from __future__ import annotations

from hub.database import create_pool


async def test_a_connection_comes_back_with_its_session_as_it_was(database_url: str) -> None:
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'kept-by-the-pool'")
            pid = conn.get_server_pid()
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid
            assert await conn.fetchval("SHOW application_name") == "kept-by-the-pool", "RESET ALL ran on release"
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(database_url: str) -> None:
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMPORARY TABLE released (n int)")
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO released VALUES (1)")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM released") == 0
    finally:
        await pool.close()

