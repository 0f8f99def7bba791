"""A suite scenario's figures: drawn from one run's result and the CPU read around it, and laid out
as rows the same way for the console, docs/benchmarks.md and the HTML report."""

from __future__ import annotations

from typing import Any

from loadtest import cpu, stats


def scenario_figures(result: dict[str, Any], meter: cpu.Meter, with_hubs: bool) -> dict[str, Any]:
    """The figures the reports show, from one run's result and the CPU read around it."""
    cpu_at = {point["t"]: point for point in meter.points}
    figures: dict[str, Any] = {
        name: result[name] for name in ("mode", "run_id", "connected", "sent", "acked", "scans_in_window",
                                        "scans_per_s", "ok_per_s", "ack_p50_ms", "ack_p95_ms", "ack_p99_ms",
                                        "ack_max_ms", "acks_by_code", "errors", "lost", "duplicated")
    }
    figures.update(stats.slow_seconds(result["timeline"]))
    figures["check_ok"] = None if result["check"] is None else result["check"]["ok"]
    figures["echo_ratio"] = None
    if "dashboards" in result:
        board = result["dashboard_check"]
        figures.update(dashboard_lag_p50_ms=result["dashboard_lag_p50_ms"],
                       dashboard_lag_p99_ms=result["dashboard_lag_p99_ms"],
                       dashboard_events=result["dashboard_events"],
                       dashboard_check_ok=None if board is None else board["ok"])
    cost = meter.per_scan(result["scans_in_window"])
    figures.update(cost if with_hubs else dict.fromkeys(cost))
    figures["timeline"] = [{**point, **{k: v for k, v in cpu_at.get(point["t"], {}).items() if k != "t"}}
                           for point in result["timeline"]]
    return figures


OVERVIEW = ("scenario", "scans/s", "ack p50/p99/max ms", "worst s p99", "s > 25 ms", "lost/dup",
            "lag p50/p99 ms", "÷ echo", "CPU µs/scan hub/PG")


def _number(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:g}{unit}"


def target_value(row: dict[str, Any]) -> str:
    """The measured figure of one judged target (loadtest.targets), as the reports show it."""
    if row["value"] is None:
        return "—"
    return f"{row['value']:.1%}" if row["figure"] == "echo_ratio" else f"{row['value']:g}"


def scenario_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The suite's figures of one scenario as (name, value) rows, for the console and the reports."""
    rows = [
        ("scans/s", _number(figures["scans_per_s"])),
        ("ack latency", f"p50 {figures['ack_p50_ms']} ms, p95 {figures['ack_p95_ms']} ms, "
                        f"p99 {figures['ack_p99_ms']} ms, max {figures['ack_max_ms']} ms"),
        ("one-second windows", f"worst p99 {figures['worst_second_p99_ms']} ms; "
                               f"{figures['seconds_over_limit']} of {figures['seconds']} with p99 over "
                               f"{figures['second_limit_ms']:g} ms"),
        ("lost / duplicated", f"{_number(figures['lost'])} / {_number(figures['duplicated'])}"),
        ("÷ echo", "—" if figures["echo_ratio"] is None else f"{figures['echo_ratio']:.1%}"),
        ("CPU per scan", f"hub {_number(figures['hub_cpu_us_per_scan'], ' µs')}, "
                         f"PostgreSQL {_number(figures['postgres_cpu_us_per_scan'], ' µs')}"),
    ]
    if "dashboard_lag_p99_ms" in figures:
        rows.append(("dashboard lag", f"p50 {figures['dashboard_lag_p50_ms']} ms, "
                                      f"p99 {figures['dashboard_lag_p99_ms']} ms"))
    return rows


def overview_row(figures: dict[str, Any]) -> tuple[str, ...]:
    """One scenario's line of the overview table (a failed scenario shows its error)."""
    if "error" in figures:
        return (figures["name"], f"failed: {figures['error'][:60]}", *[""] * (len(OVERVIEW) - 2))
    lag = (f"{figures['dashboard_lag_p50_ms']} / {figures['dashboard_lag_p99_ms']}"
           if "dashboard_lag_p99_ms" in figures else "—")
    return (
        figures["name"], _number(figures["scans_per_s"]),
        f"{figures['ack_p50_ms']} / {figures['ack_p99_ms']} / {figures['ack_max_ms']}",
        _number(figures["worst_second_p99_ms"]), f"{figures['seconds_over_limit']} of {figures['seconds']}",
        f"{_number(figures['lost'])} / {_number(figures['duplicated'])}", lag,
        "—" if figures["echo_ratio"] is None else f"{figures['echo_ratio']:.1%}",
        f"{_number(figures['hub_cpu_us_per_scan'])} / {_number(figures['postgres_cpu_us_per_scan'])}",
    )


def shape(figures: dict[str, Any]) -> str:
    """One line saying what a scenario drove."""
    load = f"open loop at {figures['rate']:g} scans/s" if figures["rate"] else "closed loop"
    against = "the echo server" if not figures["hubs"] else f"{figures['hubs']} hub(s)"
    boards = (f", {figures['dashboards']} dashboards ({figures['timed_dashboards']} decode every delta, time "
              f"its lag and are checked against SQL; {figures['held_dashboards']} read every frame without "
              "decoding it)") if figures["dashboards"] else ""
    return (f"This run: {figures['scanners']} scanners × window {figures['window']}, {load}, "
            f"against {against}{boards}, {figures['duration_s']:g} s")
