"""The README opens with the two commands, and CI runs exactly the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())[:2]


def test_ci_runs_the_readmes_test_command() -> None:
    install, test = _readme_commands()
    assert install.endswith("tracetrack serve")
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_test_command_lints_and_type_checks() -> None:
    _, test = _readme_commands()
    assert ".venv/bin/ruff check" in test and ".venv/bin/mypy" in test and test.endswith("pytest")
