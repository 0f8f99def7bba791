"""Where the hub's own files are: the pages in `web/` and the schema in `db/migrations/`.

Both stay at the top of the repository and ship inside the package: pyproject.toml maps `web/` to the
package `hub._web` and `db/migrations/` to `hub._migrations`, so the wheel holds them as `hub/_web/` and
`hub/_migrations/`. Each directory has an `__init__.py`, which makes it a package that imports the same
way from a wheel and from an editable install (setuptools' editable finder maps only packages it can
import, and a data-only directory is not one). So both installs find them by the one lookup below,
`importlib.resources`, with no path arithmetic relative to a source checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _directory(package: str) -> Path:
    """The package's directory on disk (a wheel is installed unpacked; a zipped import has none)."""
    directory = files(package)
    if not isinstance(directory, Path):
        raise RuntimeError(f"{package} is not installed as a directory: {directory}")
    return directory


WEB_DIR = _directory("hub._web")
MIGRATIONS_DIR = _directory("hub._migrations")
