"""What a person sees: a progress line a second while the run goes, a summary table at its end;
for the suite, each scenario's figures and an overview of them all."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from loadtest.figures import OVERVIEW, overview_row, scenario_rows


class Reporter:
    def __init__(self, console: Console) -> None:
        self.console = console

    def heading(self, text: str) -> None:
        self.console.rule(text, style="bold")

    def say(self, text: str) -> None:
        self.console.print(text, style="dim", markup=False, highlight=False, soft_wrap=True)

    def progress(self, point: dict[str, Any]) -> None:
        self.console.print(
            f"{point['t']:6.1f}s {point['per_s']:9.1f} acks/s   p50 {point['p50_ms']:8.1f} ms"
            f"   p99 {point['p99_ms']:8.1f} ms   outstanding {point['outstanding']:6d}"
            f"   errors {point['errors']}", markup=False, highlight=False, soft_wrap=True,
        )

    def summary(self, result: dict[str, Any]) -> None:
        table = Table(title=f"loadtest {result['run_id']} ({result['mode']})", show_header=False)
        table.add_column(justify="right", style="bold")
        table.add_column()
        rows = [
            ("hubs", ", ".join(result["urls"])),
            ("scanners", f"{result['connected']} connected of {result['scanners']}, "
                         f"{result['accounts']} accounts, window {result['window']}"),
            ("load", f"open loop, {result['rate']} scans/s" if result["rate"] else "closed loop"),
            ("duration", f"{result['duration_s']} s"),
            ("sent / acked", f"{result['sent']} / {result['acked']} ({result['unacked']} unacked)"),
            ("scans/s", f"{result['scans_per_s']} ({result['ok_per_s']} OK/s)"),
            ("ack latency", f"p50 {result['ack_p50_ms']} ms, p95 {result['ack_p95_ms']} ms, "
                            f"p99 {result['ack_p99_ms']} ms, max {result['ack_max_ms']} ms"),
            ("results", _counts(result["acks_by_code"])),
            ("errors", _counts(result["errors"]) or "none"),
        ]
        if result["check"] is not None:
            check = result["check"]
            rows.append(("check", f"{'passed' if check['ok'] else 'FAILED'}: lost {result['lost']}, "
                                  f"duplicated {result['duplicated']}, mismatched {check['mismatched']}, "
                                  f"missing links {check['missing_links']}"))
        elif result["mode"] == "hub":
            rows.append(("check", "not run (needs --database-url)"))
        if "dashboards" in result:
            rows.append(("dashboards", f"{result['dashboards']} timed: ack-to-delta lag "
                                       f"p50 {result['dashboard_lag_p50_ms']} ms, "
                                       f"p99 {result['dashboard_lag_p99_ms']} ms "
                                       f"over {result['dashboard_events']} events"))
            board = result["dashboard_check"]
            if board is not None:
                rows.append(("dashboard check", f"{'passed' if board['ok'] else 'FAILED'}: "
                                                f"at commit {board['commit_seq']}, {board['behind']} behind, "
                                                f"{len(board['mismatched'])} with other counters"))
        if "held_dashboards" in result:
            rows.append(("held dashboards", f"{result['held_dashboards']} reading every frame, decoding nothing"))
        for name, value in rows:
            table.add_row(name, value)
        self.console.print(table)


    def scenario(self, figures: dict[str, Any]) -> None:
        """The suite's figures of one scenario, beyond the run's own summary."""
        table = Table(title=f"suite: {figures['name']}", show_header=False)
        table.add_column(justify="right", style="bold")
        table.add_column()
        for name, value in scenario_rows(figures):
            table.add_row(name, value)
        self.console.print(table)

    def overview(self, scenarios: list[dict[str, Any]]) -> None:
        table = Table(title="benchmark suite")
        for column in OVERVIEW:
            table.add_column(column, justify="left" if column == "scenario" else "right")
        for figures in scenarios:
            table.add_row(*overview_row(figures))
        self.console.print(table)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{code} {count}" for code, count in counts.items())
