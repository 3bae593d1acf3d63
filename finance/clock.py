"""The app's clock. Every timestamp written to Redis comes from here, so tests can pin time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=4)
def _second_iso(epoch_seconds: int) -> str:
    # every request of one second shares this: strftime was a visible cost per funding
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def iso_from_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-24T02:10:00.123Z."""
    seconds, milliseconds = divmod(epoch_ms, 1000)
    return f"{_second_iso(seconds)}{milliseconds:03d}Z"


def day_from_ms(epoch_ms: int) -> str:
    return _second_iso(epoch_ms // 1000)[:10]


@dataclass(frozen=True)
class Instant:
    epoch_ms: int

    @property
    def iso(self) -> str:
        return iso_from_ms(self.epoch_ms)

    @property
    def day(self) -> str:
        return day_from_ms(self.epoch_ms)


class Clock:
    """Wall clock; ``FixedClock`` in tests."""

    def now(self) -> Instant:
        return Instant(time.time_ns() // 1_000_000)


class FixedClock(Clock):
    def __init__(self, epoch_ms: int) -> None:
        self.epoch_ms = epoch_ms

    def now(self) -> Instant:
        return Instant(self.epoch_ms)

    def advance(self, milliseconds: int) -> None:
        self.epoch_ms += milliseconds
