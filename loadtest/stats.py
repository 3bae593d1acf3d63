"""Latency samples and their summaries (percentiles by nearest rank, times in milliseconds)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(values_ms: Iterable[float], elapsed_s: float | None = None) -> dict[str, Any]:
    """count, rate (per second over elapsed_s), mean, p50, p90, p99, max of latencies in ms."""
    ordered = sorted(values_ms)
    count = len(ordered)
    summary: dict[str, Any] = {
        "count": count,
        "mean_ms": _round(sum(ordered) / count) if count else None,
        "p50_ms": _round(percentile(ordered, 0.50)),
        "p90_ms": _round(percentile(ordered, 0.90)),
        "p99_ms": _round(percentile(ordered, 0.99)),
        "max_ms": _round(ordered[-1]) if count else None,
    }
    if elapsed_s is not None:
        summary["per_s"] = round(count / elapsed_s, 1) if elapsed_s > 0 else None
    return summary


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


@dataclass
class OperationStats:
    """Latencies and outcomes of one kind of HTTP operation."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    successes: int = 0
    expected_refusals: int = 0
    errors: int = 0

    def record(self, latency_ms: float, outcome: str, kind: str) -> None:
        """kind is "ok", "refused" (an expected refusal such as a lost race) or "error"."""
        self.latencies_ms.append(latency_ms)
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
        if kind == "ok":
            self.successes += 1
        elif kind == "refused":
            self.expected_refusals += 1
        else:
            self.errors += 1

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    def summary(self, elapsed_s: float) -> dict[str, Any]:
        result = summarize(self.latencies_ms, elapsed_s)
        result["ok"] = self.successes
        result["ok_per_s"] = round(self.successes / elapsed_s, 1) if elapsed_s > 0 else None
        result["refused"] = self.expected_refusals
        result["errors"] = self.errors
        result["statuses"] = dict(sorted(self.statuses.items()))
        return result
