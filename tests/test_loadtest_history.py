"""`python -m loadtest history` at a small size: it fills a year into partitions, times every
operation in both phases, writes its own section of the report, and leaves no database behind."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from loadtest import history


async def test_a_small_history_is_filled_measured_and_reported(postgres_server_url: str, tmp_path: Path) -> None:
    result = await history.run(postgres_server_url, 20_000, 2, keep=False)
    assert result["rows"] == 20_000 and result["partitions"] >= 14 and not result["kept"]
    assert set(result["first_week"]) == set(result["after_year"]) == {
        "insert a batch of 50 scans", "a bag's history", "first page", "deep page", "first page of an area",
        "deep page of an area", "first page of a device"}
    assert all(t["p50_ms"] > 0 for phase in ("first_week", "after_year") for t in result[phase].values())
    markdown = history.render(result, {"cpu": "a CPU", "cores": 2, "ram_gib": 4, "postgresql": "15",
                                       "python": "3.11"}, "python -m loadtest history --rows 20000")
    assert f"as each phase's timings ended: {result['load'][0]} and" in markdown
    assert "not the 100 million of issue 11: 0.02 million" in markdown
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nthe suite's part\n")
    history.sections.write(report, "history", markdown)
    assert report.read_text().startswith("# Benchmarks\n\nthe suite's part\n\n<!-- section:history -->")
    conn = await asyncpg.connect(postgres_server_url)
    try:
        assert not await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", result["database"])
    finally:
        await conn.close()
