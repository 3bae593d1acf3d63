"""The app's clock. Every timestamp written to Redis comes from here, so tests can pin time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime


def iso_from_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-24T02:10:00.123Z."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def day_from_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


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
