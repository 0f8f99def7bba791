"""Issue 11's faults, each under steady load from the load generator (loadtest.faults at its
`TESTS` size: scanners at a steady rate and dashboards, over real websockets, against real hub
processes), on a PostgreSQL cluster and a Redis of this module's own, which the faults stop and
starve:

- `kill -9` of one of two hubs (a new process starts on its port, as a supervisor would);
- PostgreSQL restarted;
- Redis restarted;
- every connection to one hub dropped at once, with 2,000 more scanners connected: a reconnect storm;
- PostgreSQL's connections all taken by others, the hubs' own ended.

After each one: every acked scan is stored exactly once with its acked result, the parents'
invariants hold, the dashboards' counters equal SQL's, every scanner was acked again within 5 s of
the fault's end, and every hub is the process it was (bar the one killed). The figures (recovery,
worst ack) are printed; `python -m loadtest faults` measures them at a bigger load.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtest import faults
from tests.faults_support import assert_recovered

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@pytest.fixture(scope="module")
def servers() -> Iterator[faults.Servers]:
    faults.raise_open_files()
    with faults.private_servers() as started:
        yield started


@pytest.mark.parametrize("fault", faults.FAULTS, ids=faults.NAMES)
def test_the_hubs_recover_by_themselves_and_lose_or_double_no_acked_scan(
        fault: faults.Fault, servers: faults.Servers) -> None:
    assert_recovered(faults.run_fault(fault, faults.TESTS, servers))
