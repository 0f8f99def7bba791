"""Where the hub's own files are: the pages in `web/` and the schema in `db/migrations/`.

Both stay at the top of the repository and ship inside the package: `hub/_web` and `hub/_migrations`
are symbolic links to them, which an editable install follows in place and a wheel build copies as
package data (pyproject.toml). So both installs find them next to this module, with no path
arithmetic relative to a source checkout.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEB_DIR = PACKAGE_DIR / "_web"
MIGRATIONS_DIR = PACKAGE_DIR / "_migrations"
