"""The scale-out benchmark's section of docs/benchmarks.md: one row per hub count, with the command
and the machine, written between its markers (the run itself needs HAProxy and three hubs: see
tests/test_scaleout.py for the same machinery under faults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest import scaleout, sections

MACHINE = {"cpu": "Test CPU", "cores": 2, "ram_gib": 4.0, "kernel": "6", "python": "3.11",
           "postgresql": "15", "redis": "7"}


def step(hubs: int, scans_per_s: float) -> dict[str, Any]:
    return {"hubs": hubs, "scanners": 200, "window": 8, "rate": None, "duration_s": 30.0, "load_average": 1.5,
            "scans_per_s": scans_per_s, "ack_p50_ms": 10.0, "ack_p99_ms": 40.0, "hub_cpu_us_per_scan": 90.0,
            "postgres_cpu_us_per_scan": 80.0, "haproxy_cpu_us_per_scan": 9.0, "lost": 0, "duplicated": 0,
            "sessions": {f"hub{n}": 200 // hubs for n in range(1, hubs + 1)}}


def test_the_section_has_a_row_per_hub_count_the_command_and_the_machine(tmp_path: Path) -> None:
    result = {"date": "2026-12-01T21:00:00+00:00", "machine": MACHINE, "command": "python -m loadtest scaleout",
              "steps": [step(1, 2000.0), step(2, 1900.0), step(3, 1800.0)]}
    text = scaleout.render(result)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 2", "| 3"]
    assert rows[2].split(" | ")[2] == "0.90×"
    assert "```sh\npython -m loadtest scaleout\n```" in text and "| cores | 2 |" in text
    assert "2 cores" in text and "cannot add CPU" in text
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nthe suite's part\n")
    sections.write(report, scaleout.SECTION, text)
    assert report.read_text().startswith("# Benchmarks\n\nthe suite's part\n")
    assert sections.wrap(scaleout.SECTION, text) in report.read_text()
