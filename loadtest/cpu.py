"""CPU time of processes, read from /proc: the hubs' own, and PostgreSQL's.

`/proc/PID/stat` holds a process's user and system time (utime, stime) in clock ticks. A reading of
PostgreSQL sums every process whose `/proc/PID/comm` is `postgres`: the postmaster, its background
workers (the WAL writer, the checkpointer, autovacuum) and the backends, except a client backend
whose process title names another database than the run's (other work on a shared server). A
backend that starts between two readings counts from zero; one that exits between them is missed,
its time with it.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def ticks(pid: int) -> int | None:
    """utime + stime of process `pid` in clock ticks; None when there is no such process."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Fields 3 onwards follow the command name in parentheses, which may itself hold spaces or ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 (utime) and 15 (stime) of proc(5)


_CLIENT_BACKEND = re.compile(r"postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])(?: |$)")
"""A client backend's process title: `postgres: [cluster: ]user database host(port)|[local] activity`."""


def title(pid: int) -> str:
    """Process `pid`'s title (PostgreSQL rewrites its command line into one); "" when it is gone."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").strip()
    except OSError:
        return ""


def serves_other_database(process_title: str, database: str) -> bool:
    """Whether a PostgreSQL process is a client backend of another database than `database`."""
    backend = _CLIENT_BACKEND.match(process_title)
    return backend is not None and backend.group(1) != database


class Named:
    """Every process whose /proc/PID/comm is `comm`, found afresh at each reading.

    A pid once seen with another name is not looked at again (a reading runs on the load generator's
    event loop once a second, and /proc holds hundreds of processes): should the kernel hand that pid
    to a new PostgreSQL backend later, the backend is missed, like one that exited.
    """

    def __init__(self, comm: str, database: str | None = None) -> None:
        self.comm = comm
        self.database = database
        """With a database: PostgreSQL processes, less the client backends of other databases."""
        self._others: set[int] = set()

    def read(self) -> dict[int, int]:
        """Clock ticks by pid of each such process."""
        found = {}
        for name in os.listdir(PROC):
            if not name.isdigit() or (pid := int(name)) in self._others:
                continue
            try:
                comm = (PROC / name / "comm").read_text().rstrip("\n")
            except OSError:
                continue
            if comm != self.comm or (self.database is not None and serves_other_database(title(pid), self.database)):
                self._others.add(pid)
            elif (used := ticks(pid)) is not None:
                found[pid] = used
        return found


def spent(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks used between two readings by the processes of the later one.

    A pid that is new, or whose count went down (a reused pid), counts from zero.
    """
    return sum(now - before.get(pid, 0) if now >= before.get(pid, 0) else now for pid, now in after.items())


@dataclass(frozen=True)
class Reading:
    at: float
    hub: dict[int, int]
    postgres: dict[int, int]


class Meter:
    """The hubs' and PostgreSQL's CPU over one run: the timed window's total and one point a second."""

    def __init__(self, hub_pids: list[int], database: str | None = None) -> None:
        self.hub_pids = hub_pids
        self.window: list[Reading] = []
        self.points: list[dict[str, Any]] = []
        self._postgres = Named("postgres", database)
        self._last: Reading | None = None

    def read(self) -> Reading:
        hub = {pid: used for pid in self.hub_pids if (used := ticks(pid)) is not None}
        return Reading(time.monotonic(), hub, self._postgres.read())

    def mark(self, phase: str) -> None:
        """Read at the timed window's start and end (runner.run's `on_window`)."""
        reading = self.read()
        self.window.append(reading)
        if phase == "start":
            self._last = reading

    def tick(self, t: float) -> dict[str, Any]:
        """Read again: CPU since the last reading, in percent of one core, as the point at second `t`."""
        reading = self.read()
        point: dict[str, Any] = {"t": t, "hub_cpu_pct": None, "postgres_cpu_pct": None}
        if self._last is not None and reading.at > self._last.at:
            seconds = (reading.at - self._last.at) * CLOCK_TICKS / 100
            point["hub_cpu_pct"] = round(spent(self._last.hub, reading.hub) / seconds, 1)
            point["postgres_cpu_pct"] = round(spent(self._last.postgres, reading.postgres) / seconds, 1)
        self._last = reading
        self.points.append(point)
        return point

    def per_scan(self, scans: int) -> dict[str, float | None]:
        """Microseconds of CPU per scan over the timed window, hubs and PostgreSQL."""
        if len(self.window) < 2 or not scans:
            return {"hub_cpu_us_per_scan": None, "postgres_cpu_us_per_scan": None}
        start, end = self.window[0], self.window[-1]
        per_tick = 1e6 / CLOCK_TICKS / scans
        return {"hub_cpu_us_per_scan": round(spent(start.hub, end.hub) * per_tick, 1),
                "postgres_cpu_us_per_scan": round(spent(start.postgres, end.postgres) * per_tick, 1)}
