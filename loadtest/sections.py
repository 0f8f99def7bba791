"""Sections of docs/benchmarks.md that other benchmark commands own.

`python -m loadtest suite` writes the file whole; the fault, scale and scale-out benchmarks each
write one section of it between markers of their own, which the suite's next run keeps. So each
benchmark reruns alone, and no report is edited by hand.
"""

from __future__ import annotations

import re
from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def _pattern(name: str) -> re.Pattern[str]:
    start, end = _markers(name)
    return re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)


def wrap(name: str, markdown: str) -> str:
    """`markdown` between the markers of section `name`."""
    start, end = _markers(name)
    return f"{start}\n{markdown.strip()}\n{end}"


def replace(text: str, name: str, markdown: str) -> str:
    """`text` with section `name` replaced by `markdown`, or with it appended when absent."""
    block = wrap(name, markdown)
    if _pattern(name).search(text):
        return _pattern(name).sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block + "\n"


_ANY = re.compile(r"<!-- section:([\w-]+) -->.*?<!-- /section:\1 -->", re.DOTALL)


def keep(old: str, new: str) -> str:
    """`new` followed by every section of `old`: the suite rewrites its part and keeps the others'."""
    blocks = [match.group(0) for match in _ANY.finditer(old)]
    return "\n\n".join([new.rstrip("\n"), *blocks]) + "\n"


def write(path: str | Path, name: str, markdown: str) -> None:
    """Write section `name` of the report at `path` (made when missing)."""
    target = Path(path)
    text = target.read_text() if target.exists() else "# Benchmarks\n"
    target.write_text(replace(text, name, markdown))
