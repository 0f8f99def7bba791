"""docs/protocol.md's table of HTTP error codes lists exactly hub/codes.py's `ApiCode`, with its status."""

from __future__ import annotations

import re
from pathlib import Path

from hub.codes import ApiCode

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def test_the_http_error_table_matches_the_codes() -> None:
    _, _, section = DOC.read_text().partition("## 15. Requests and errors")
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", section, re.MULTILINE)
    assert sorted(rows) == sorted((code.value, str(code.status)) for code in ApiCode)
