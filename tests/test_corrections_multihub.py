"""Corrections made on one hub reach the bag cache of another (through Redis): a bag deleted on hub A
is unknown on hub B, even to the scan B's cache would have refused from what it knew before."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.dashboard_support import make_account
from tests.remote_support import RemoteScanner, start_hubs, unique_prefix


async def test_a_bag_deleted_on_one_hub_is_unknown_in_the_cache_of_another(
        hub_process: Any, clean_db: asyncpg.Pool, redis_url: str, redis_prefix: str) -> None:
    a, b = await start_hubs(hub_process, 2, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix))
    admin = await make_account(clean_db, "admin")
    lucknow = await make_account(clean_db, "dispatcher", "lucknow")
    indore = await make_account(clean_db, "dispatcher", "indore")
    async with RemoteScanner(b, lucknow) as scanner:
        assert (await scanner.do("parent", code="SB30001"))["ok"]
        assert (await scanner.do("parent", code="SB30002"))["ok"]
    async with RemoteScanner(b, indore) as scanner:
        # Hub B's cache knows SB30001 as lucknow's: the edge refuses at once.
        assert (await scanner.do("child", code="IX0001", parent="SB30001"))["code"] == "WRONG_AREA"
        async with httpx.AsyncClient(base_url=a.url, headers=admin.cookie, timeout=10) as http:
            deleted = await http.delete("/api/bags/SB30001")
            moved = await http.post("/api/bags/SB30002/reassign", json={"area": "indore"})
        assert deleted.status_code == 200 and moved.status_code == 200, (deleted.text, moved.text)
        # The publication reaches B a moment after A's commit: scan until B's answer changes.
        for _ in range(200):
            answer = await scanner.do("child", code="IX0002", parent="SB30001")
            if answer["code"] != "WRONG_AREA":
                break
        assert answer["code"] == "UNKNOWN_PARENT"
        for _ in range(200):
            answer = await scanner.do("child", code="IX0003", parent="SB30002")
            if answer["code"] != "WRONG_AREA":
                break
        assert answer["code"] == "OK" and answer["data"]["parent"] == "SB30002"
    assert await clean_db.fetchval("SELECT count(*) FROM bags WHERE code = 'SB30001'") == 0
