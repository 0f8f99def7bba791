"""The built wheel is a working hub: its pages and migrations ship inside it.

The wheel is built from a copy of the source, installed with its dependencies into a fresh venv and
served from a directory outside the repository, on an empty database, so nothing can come from the
checkout: not the pages, not the schema.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.hubprocess import HubProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 180


def _run(*command: str | Path, cwd: Path) -> str:
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_and_serves(postgres_server_url: str, tmp_path: Path) -> None:
    source, dist, venv, workdir = (tmp_path / name for name in ("source", "dist", "venv", "run"))
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "*.egg-info", "build", "dist", "test-artifacts"))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("tracetrack-*.whl")
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)
    shutil.rmtree(source)
    workdir.mkdir()

    installed = _run(venv / "bin" / "python", "-c", "import hub.resources as r; print(r.WEB_DIR, r.MIGRATIONS_DIR)",
                     cwd=workdir).split()
    assert all(Path(path).is_relative_to(venv) for path in installed), installed

    with services.test_database(postgres_server_url) as database_url:
        hub = HubProcess(workdir, {"DATABASE_URL": database_url, "ADMIN_PASSWORD": "wheel-admin-password",
                                   "SESSION_SECRET": "test-session-secret"},
                         command=(str(venv / "bin" / "tracetrack"),))
        try:
            hub.start()
            assert httpx.get(f"{hub.url}/ready").status_code == 200
            page = httpx.get(f"{hub.url}/index.html")
            assert page.status_code == 200
            assert page.text == (ROOT / "web" / "index.html").read_text()
            assert httpx.get(f"{hub.url}/css/app.css").text == (ROOT / "web" / "css" / "app.css").read_text()
            login = httpx.post(f"{hub.url}/api/login", json={"username": "admin", "password": "wheel-admin-password"},
                               headers={"Origin": hub.url})
            assert login.status_code == 200, login.text
        finally:
            hub.stop()
