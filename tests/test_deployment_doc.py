"""docs/deployment.md follows the code: the settings and serve options it names exist, the variables
it gives deploy/haproxy.cfg are the ones the file reads (with the same defaults), and the file is a
configuration HAProxy accepts."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from hub.api.health import routes as probe_routes
from hub.cli import serve
from hub.settings import Settings
from loadtest import balancer

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "deployment.md").read_text()
CONFIG = balancer.CONFIG.read_text()
CONFIG_VARIABLES = dict(re.findall(r'"\$\{(\w+)-([^}]*)\}"', CONFIG))
"""Each variable deploy/haproxy.cfg reads, with its default."""
UVICORN = {"FORWARDED_ALLOW_IPS"}
"""Read by uvicorn itself, not by hub/settings.py."""


def _named_variables() -> set[str]:
    """Upper-case names in backticks, and assigned in the doc's commands."""
    quoted = set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", DOC))
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", DOC, re.DOTALL))
    return quoted | set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", commands))


def test_the_shapes_come_in_order_and_the_readme_links_the_doc() -> None:
    headings = re.findall(r"^## (.+)$", DOC, re.MULTILINE)
    assert headings == ["One machine, zero setup", "One machine with PostgreSQL and Redis",
                        "Many hubs behind HAProxy", "A read replica"]
    assert "(docs/deployment.md)" in (ROOT / "README.md").read_text()


def test_every_variable_it_names_is_read_by_the_hub_haproxy_or_uvicorn() -> None:
    settings = {field.metadata["env"] for field in dataclasses.fields(Settings)}
    unknown = _named_variables() - settings - set(CONFIG_VARIABLES) - UVICORN
    assert unknown == set()


def test_it_gives_the_configurations_variables_and_defaults() -> None:
    assert set(balancer.environment("a", "b", ["c"] * len(balancer.SERVERS))) == set(CONFIG_VARIABLES)
    for variable, default in CONFIG_VARIABLES.items():
        assert f"`{variable}`" in DOC and f"`{default}`" in DOC, (variable, default)


def test_the_serve_options_it_uses_exist() -> None:
    options = {"--help", *(opt for param in serve.params for opt in param.opts)}
    used = {flag for line in re.findall(r"tracetrack serve([^`\n&]*)", DOC) for flag in re.findall(r"--[\w-]+", line)}
    assert used and used <= options


def test_haproxy_checks_the_readiness_probe_and_accepts_the_file() -> None:
    path = re.search(r"http-check send meth GET uri (\S+)", CONFIG)
    assert path is not None and path[1] in {route.path for route in probe_routes}
    for env in ({}, balancer.environment("127.0.0.1:1", "127.0.0.1:2", ["127.0.0.1:3"] * len(balancer.SERVERS))):
        checked = subprocess.run([balancer.executable(), "-c", "-f", str(balancer.CONFIG)], env=env,
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
