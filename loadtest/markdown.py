"""docs/benchmarks.md from a suite result: the machine, the commands, the figures, the targets, the date."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadtest.figures import OVERVIEW, overview_row, scenario_rows, shape, target_value
from loadtest.machine import LABELS

METHOD = """\
- **scans/s**: final acks received within the timed window, divided by its length (the echo: messages
  echoed). Every scanner starts at the same instant, after accounts, logins and connections.
- **ack latency**: every final ack, the drain included, from the moment its scan was due (sent; in open
  loop, its scheduled time, so waiting for a window slot counts) to the moment its ack arrived.
- **one-second windows**: the run's progress intervals (the drain included); an interval without acks
  counts as none. A window is slow when its p99 is over 25 ms.
- **lost / duplicated**: every acked (device, seq) looked up in PostgreSQL at the end (loadtest/check.py);
  dashboards' counters are checked against SQL too.
- **÷ echo**: the scenario's scans/s divided by the echo's messages/s in this same suite run.
- **CPU per scan**: utime + stime from /proc/PID/stat at the timed window's start and end, divided by the
  scans in the window: the hub process(es), and every process named `postgres` on the machine (other
  databases' too; a backend that exited within the window is missed).
- The load generator runs on the same cores as the hubs and PostgreSQL: the scanners in one process,
  the timed dashboards in two more (loadtest/fleet.py), the holding ones in up to four
  (loadtest/holders.py). Every dashboard is a websocket client of a hub with its login's scope and
  reads every frame; only the timed ones (`--timed-dashboards`, 20 by default) decode the deltas, time
  them and are checked against SQL: decoding every delta in all 200 cost the generator more than half
  a core of the two the hubs and PostgreSQL use.
- The generator's processes make no full garbage collection while they scan or follow (loadtest/pauses.py):
  such a pause stops a process's event loop, and its scans due meanwhile would count it as the hub's
  latency (at 1,000/s its full collections, 42-77 ms, were the run's slowest seconds).
- **lag**: from the moment a scan's ack reached its scanner to the moment a delta listing it reached a
  timed dashboard, over every (scan, timed dashboard) pair; negative when the delta came first.
"""


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def render(result: dict[str, Any]) -> str:
    config = result["config"]
    lines = ["# Benchmarks", "",
             f"Written by `python -m loadtest suite` on {result['date']}; run it again rather than edit this "
             "file. The charts are in [benchmarks.html](benchmarks.html).", ""]
    if not config["full_size"]:
        lines += [f"> A shortened run ({config['duration_s']:g} s per scenario, scale {config['scale']:g}): the "
                  "targets of issue 10 speak of 60-second runs at full load, so its verdicts are only indicative.",
                  ""]
    lines += ["## Machine", ""]
    lines += table(("", ""), [(label, str(result["machine"][key])) for key, label in LABELS])
    lines += ["", "## Command", "", "```sh", result["command"], "```", "",
              "Each scenario runs against servers started for it alone: the echo server, or hub processes "
              "on a fresh database (dropped afterwards), the two-hub scenario with a Redis key prefix of its "
              "own. The commands under each scenario do the same by hand.", "",
              "## Figures", ""]
    lines += table(OVERVIEW, [overview_row(figures) for figures in result["scenarios"]])
    lines += ["", "## Targets (issue 10)", ""]
    lines += table(("scenario", "target", "bound", "measured", "verdict"),
                    [(row["scenario"], row["target"], row["bound"], target_value(row),
                      f"**{row['verdict']}**" if row["verdict"] == "missed" else row["verdict"])
                     for row in result["targets"]])
    lines += ["", "Not measured by the suite: seeding 10,000,000 bags (`tracetrack seed`), and the dashboard "
              "page's repaint (browser tests).", ""]
    for figures in result["scenarios"]:
        lines += [f"## {figures['name']}: {figures['title']}", ""]
        if "error" in figures:
            lines += [f"Could not run: `{figures['error']}`", ""]
            continue
        lines += [shape(figures) + ".", ""]
        lines += table(("figure", "value"), scenario_rows(figures))
        lines += ["", "```sh", *figures["commands"], "```", ""]
    lines += ["## How the figures are taken", "", METHOD]
    return "\n".join(lines)
