"""Helpers of the fault tests: the hub in-process on a private PostgreSQL cluster that a test may
stop (never the machine's own), and the checks of a fault run under load (loadtest.faults)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from loadtest import faults
from loadtest.servers import PostgresCluster, postgres_cluster
from tests.conftest import ADMIN_PASSWORD


@contextlib.contextmanager
def hub_on_private_cluster(data_dir: Path) -> Iterator[tuple[TestClient, PostgresCluster]]:
    """The app in-process (its lifespan running) on a cluster of the test's own, which it may stop."""
    with postgres_cluster() as cluster:
        settings = Settings(database_url=cluster.url(), session_secret="test-session-secret",
                            admin_password=ADMIN_PASSWORD, data_dir=data_dir)
        with TestClient(create_app(settings), base_url="http://testserver") as client:
            try:
                yield client, cluster
            finally:
                if not cluster.running():
                    cluster.start()  # the lifespan's shutdown needs its database


def assert_recovered(result: dict[str, Any]) -> None:
    """Every check of issue 11 on one fault run; the figures are printed for the log."""
    print({key: value for key, value in result.items() if key not in ("check", "dashboard_check")})
    found = faults.problems(result)
    assert not found, found
    assert result["scanners_before"] == faults.TESTS.scanners
