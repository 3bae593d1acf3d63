"""What this process's fan-out dropped or closed on purpose, counted (docs/websocket.md, "Under overload"):
logged when the hub stops, and there for a metrics endpoint to read."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class DeliveryCounts:
    closed_too_slow: int = 0  # 4008: a socket's queue full while its transport was backed up
    frames_dropped: int = 0  # frames queued for sockets closed with 4008 (they resume with since)
    shed: int = 0  # 1013: closed because the reader was too far behind the streams (streams/shedding.py)
    shed_rounds: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


COUNTS = DeliveryCounts()
