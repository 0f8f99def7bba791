"""Benchmark sections in docs/benchmarks.md: each command rewrites its own and keeps the others'."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from loadtest import sections

NAMES = st.sampled_from(["faults", "scale", "scale-out", "history"])
BODIES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60).map(
    lambda body: body.replace("<!--", "<! --"))


@given(st.lists(st.tuples(NAMES, BODIES), max_size=8))
def test_the_last_write_of_each_section_wins_and_order_of_first_writes_holds(writes: list[tuple[str, str]]) -> None:
    text = "# Benchmarks\n"
    for name, body in writes:
        text = sections.replace(text, name, body)
    latest = {name: body for name, body in writes}
    expected = [sections.wrap(name, latest[name]) for name in dict.fromkeys(name for name, _ in writes)]
    assert sections.keep(text, "# Suite\n") == "\n\n".join(["# Suite", *expected]) + "\n"


def test_write_makes_the_report_and_the_suite_keeps_the_section(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.md"
    sections.write(path, "faults", "## Faults\n\n| fault | recovery |")
    sections.write(path, "scale", "## Scale")
    sections.write(path, "faults", "## Faults\n\nrewritten")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n")
    assert text.count("<!-- section:faults -->") == 1 and "rewritten" in text and "| fault |" not in text
    assert sections.keep(text, "# new suite").index("## Faults") < sections.keep(text, "# new suite").index("## Scale")
