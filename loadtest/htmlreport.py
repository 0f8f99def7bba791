"""The suite's HTML report: the figures, and per scenario charts of latency, throughput and CPU by second.

The charts are drawn with matplotlib on `Figure` objects (no pyplot, no GUI backend, no global
figure state) and saved as SVG with their text kept as text, then inlined, so the report is one
small self-contained file that opens anywhere.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from loadtest.figures import OVERVIEW, overview_row, scenario_rows, shape, target_value
from loadtest.machine import LABELS
from loadtest.stats import SLOW_SECOND_MS

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222 }
table { border-collapse: collapse; margin: 0.5rem 0 1rem } td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem }
th { background: #f3f3f3; text-align: left } td { font-variant-numeric: tabular-nums }
pre { background: #f6f6f6; padding: 0.6rem; white-space: pre-wrap; overflow-wrap: anywhere }
.missed { color: #b00020; font-weight: bold }
.note { background: #fff6d5; padding: 0.5rem 0.8rem } svg { max-width: 100%; height: auto }
"""

BETWEEN_TAGS = re.compile(r">\s+<")
"""matplotlib indents its SVG; the report has no use for the whitespace."""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _table(header: tuple[str, ...] | None, rows: Sequence[tuple[str, ...]]) -> str:
    head = "" if header is None else "<tr>" + "".join(f"<th>{_esc(cell)}</th>" for cell in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _series(timeline: list[dict[str, Any]], key: str) -> list[float]:
    """One value a second; NaN (a gap in the line) where the second had no acks or no reading."""
    return [math.nan if point.get(key) is None or (key.endswith("_ms") and not point["acks"]) else point[key]
            for point in timeline]


def chart(figures: dict[str, Any]) -> str:
    """Latency percentiles, throughput and (with hubs) CPU over the run, one point a second, as inline SVG."""
    timeline = figures["timeline"]
    seconds = [point["t"] for point in timeline]
    panels = 3 if figures["hubs"] else 2
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": figures["name"], "font.size": 9,
                                "axes.grid": True, "grid.alpha": 0.3}):
        figure = Figure(figsize=(9, 2.2 * panels), layout="constrained")
        axes = figure.subplots(panels, 1, sharex=True)
        latency, throughput = axes[0], axes[1]
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")):
            latency.plot(seconds, _series(timeline, key), label=label, linewidth=1.2)
        latency.axhline(SLOW_SECOND_MS, color="#b00020", linestyle=":", linewidth=1,
                        label=f"{SLOW_SECOND_MS:g} ms")
        latency.set_yscale("log")
        latency.set_ylabel("ack latency (ms)")
        throughput.plot(seconds, _series(timeline, "per_s"), label="acks/s", linewidth=1.2)
        if figures["rate"]:
            throughput.axhline(figures["rate"], color="grey", linestyle="--", linewidth=1, label="offered")
        throughput.set_ylabel("acks per second")
        throughput.set_ylim(bottom=0)
        if figures["hubs"]:
            cpu = axes[2]
            for key, label in (("hub_cpu_pct", "hub(s)"), ("postgres_cpu_pct", "PostgreSQL")):
                cpu.plot(seconds, _series(timeline, key), label=label, linewidth=1.2)
            cpu.set_ylabel("CPU (% of a core)")
            cpu.set_ylim(bottom=0)
        axes[-1].set_xlabel("seconds since the start")
        for panel in axes:
            panel.legend(loc="upper right", fontsize=8)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    return BETWEEN_TAGS.sub("><", svg[svg.index("<svg"):])


def _scenario(figures: dict[str, Any]) -> str:
    title = f"<h2 id=\"{_esc(figures['name'])}\">{_esc(figures['name'])}: {_esc(figures['title'])}</h2>"
    if "error" in figures:
        return f"{title}<p class=\"missed\">Could not run: {_esc(figures['error'])}</p>"
    return (f"{title}<p>{_esc(shape(figures))}.</p>{_table(None, scenario_rows(figures))}{chart(figures)}"
            f"<pre>{_esc(chr(10).join(figures['commands']))}</pre>")


def _targets(rows: list[dict[str, Any]]) -> str:
    cells = []
    for row in rows:
        verdict = row["verdict"]
        cells.append(f"<tr><td>{_esc(row['scenario'])}</td><td>{_esc(row['target'])}</td>"
                     f"<td>{_esc(row['bound'])}</td><td>{_esc(target_value(row))}</td>"
                     f"<td class=\"{_esc(verdict.replace(' ', '-'))}\">{_esc(verdict)}</td></tr>")
    head = "".join(f"<th>{name}</th>" for name in ("scenario", "target", "bound", "measured", "verdict"))
    return f"<table><tr>{head}</tr>{''.join(cells)}</table>"


def render(result: dict[str, Any]) -> str:
    config = result["config"]
    note = "" if config["full_size"] else (
        f"<p class=\"note\">A shortened run ({config['duration_s']:g} s per scenario, scale {config['scale']:g}): "
        "the targets speak of 60-second runs at full load.</p>")
    machine = _table(None, [(label, str(result["machine"][key])) for key, label in LABELS])
    return "".join([
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>TraceTrack benchmarks</title>",
        f"<style>{STYLE}</style></head><body><h1>TraceTrack benchmarks</h1>",
        f"<p>Written by <code>python -m loadtest suite</code> on {_esc(result['date'])}.</p>{note}",
        f"<h2>Machine</h2>{machine}<h2>Command</h2><pre>{_esc(result['command'])}</pre>",
        f"<h2>Figures</h2>{_table(OVERVIEW, [overview_row(f) for f in result['scenarios']])}",
        f"<h2>Targets (issue 10)</h2>{_targets(result['targets'])}",
        *(_scenario(figures) for figures in result["scenarios"]),
        "</body></html>\n",
    ])
