"""The HTTP API's documents hold to the code: docs/protocol.md's table of error codes lists exactly
hub/codes.py's `ApiCode` with its status, and docs/api.md's table lists exactly the app's routes."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route

from hub.app import create_app
from hub.codes import ApiCode
from hub.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC = DOCS / "protocol.md"


def test_the_http_error_table_matches_the_codes() -> None:
    _, _, section = DOC.read_text().partition("## 15. Requests and errors")
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", section, re.MULTILINE)
    assert sorted(rows) == sorted((code.value, str(code.status)) for code in ApiCode)



def test_the_api_document_lists_every_route_and_no_other() -> None:
    documented = re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", (DOCS / "api.md").read_text(),
                            re.MULTILINE)
    app = create_app(Settings(database_url="postgresql://unused/unused"))  # routes only: no lifespan runs
    served = [(method, route.path) for route in app.routes if isinstance(route, Route)
              for method in sorted((route.methods or set()) - {"HEAD"})]
    assert sorted(documented) == sorted(served)
