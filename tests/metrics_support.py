"""Reading /metrics as Prometheus would: one sample's value, by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token"
BEARER = {"authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by its name and its labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample (0 when the scrape does not have it yet, as for a label value never counted)."""
    return scrape.get((name, frozenset(labels.items())), 0.0)


def total(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    """The sum of a metric's samples over all its label values."""
    return sum(v for (n, _), v in scrape.items() if n == name)
