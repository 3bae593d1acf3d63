"""Under overload, delivery degrades by design, not by backlog.

The fan-out delivers every entry to every socket, in order, or closes the socket: it never skips one
for a socket that stays (a gap) and never reorders. So when a process cannot keep up with what the
streams take in (mixed load: fundings commit events faster than the process can frame and write them
to all its sockets), there are two ways to fall: let the reader fall further and further behind the
streams (every socket's events later and later, until trimming overtakes the reader), or shed sockets.
We shed: when the newest entry the reader is delivering is more than LAG_SECONDS_MAX old, an eighth of
this process's sockets is closed with 1013 (Try Again Later), at most once every SHED_INTERVAL_SECONDS,
until the reader is back within the bound. The closed clients resume with ``since`` (after a back-off,
docs/websocket.md) and miss nothing; those that stay keep every event in order, on time again sooner.
Each round is counted (streams/counts.py) beside the slow consumers closed with 4008.

The age is measured against the entry id's milliseconds, Redis's clock: on one host, or hosts with
synchronised clocks, which is why the bound is whole seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from finance.stream_ids import order_of
from streams.counts import COUNTS
from streams.subscriber import CLOSE_TRY_AGAIN_LATER

if TYPE_CHECKING:
    from streams.hub import Subscription
    from streams.source import Entry

LAG_SECONDS_MAX: Final = 2.0
SHED_INTERVAL_SECONDS: Final = 2.0
SHED_SHARE: Final = 8  # one socket in this many per round


class Shedder:
    def __init__(self, lag_seconds_max: float = LAG_SECONDS_MAX) -> None:
        self.lag_seconds_max = lag_seconds_max
        self._shed_at = 0.0

    def lag_seconds(self, entries: list[Entry]) -> float:
        return time.time() - order_of(entries[-1][0])[0] / 1000 if entries else 0.0

    def check(self, entries: list[Entry], subscriptions: Iterable[Subscription]) -> int:
        """Sheds a share of the sockets when the newest of ``entries`` is too old; returns how many."""
        if self.lag_seconds(entries) <= self.lag_seconds_max:
            return 0
        now = time.monotonic()
        if now - self._shed_at < SHED_INTERVAL_SECONDS:
            return 0
        self._shed_at = now
        open_ones = [s for s in subscriptions if s.subscriber.close_code is None]
        chosen = open_ones[: max(1, len(open_ones) // SHED_SHARE)] if open_ones else []
        for subscription in chosen:
            subscription.subscriber.close(CLOSE_TRY_AGAIN_LATER)
        COUNTS.shed += len(chosen)
        COUNTS.shed_rounds += 1
        return len(chosen)
