"""Reading /metrics in tests: the Prometheus text parsed into {(sample name, labels): value}."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when it is not there (a counter never touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_sets(samples: Samples, name: str) -> set[frozenset[tuple[str, str]]]:
    return {labels for (sample_name, labels), _ in samples.items() if sample_name == name}


def delta(after: Samples, before: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of ``name`` that moved between two scrapes, with how much."""
    moved = {}
    for (sample_name, labels), new in after.items():
        if sample_name == name and new != before.get((sample_name, labels), 0.0):
            moved[labels] = new - before.get((sample_name, labels), 0.0)
    return moved


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())
