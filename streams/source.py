"""Reading the market's streams from Redis: where a stream stands (XINFO STREAM) and a replay page (XRANGE).

The blocking reader that feeds live events to the hub is in streams/reader.py; this module holds the
plain reads a socket makes while it connects. Key names come from finance/keys.py via the market.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from finance.stream_ids import ZERO, Order, exclusive, order_of

# (entry id, {"event": ..., "data": ...}) as redis-py returns stream entries
Entry = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class StreamState:
    """Where one stream stands: the last id Redis generated, its oldest kept entry, how many were trimmed."""

    last: Order
    first: Order | None
    removed: int

    @classmethod
    def empty(cls) -> StreamState:
        return cls(ZERO, None, 0)

    @classmethod
    def from_xinfo(cls, info: dict[str, Any]) -> StreamState:
        first_entry = info.get("first-entry")
        first = order_of(first_entry[0]) if first_entry else None
        added = int(info.get("entries-added") or 0)
        return cls(order_of(info["last-generated-id"]), first, max(0, added - int(info.get("length") or 0)))

    def lost_after(self, since: Order) -> bool:
        """True when a client that has seen up to ``since`` may have missed entries that are gone:
        ``since`` is older than the oldest entry of a stream that has been trimmed, or it is an id this
        stream never generated (ahead of it: the data was lost, e.g. a fail-over to a stale replica)."""
        if since > self.last:
            return True
        if self.removed == 0:
            return False
        if self.first is None:
            return since < self.last
        return since < self.first


def _state(reply: Any) -> StreamState:
    if isinstance(reply, ResponseError):  # "no such key": a stream nobody has written yet
        return StreamState.empty()
    if isinstance(reply, BaseException):
        raise reply
    return StreamState.from_xinfo(reply)


async def stream_states(redis: Redis, keys: list[str]) -> list[StreamState]:
    """The state of each stream, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.xinfo_stream(key)
        replies = await pipe.execute(raise_on_error=False)
    return [_state(reply) for reply in replies]


async def read_page(redis: Redis, key: str, after: str, upto: str, count: int) -> tuple[StreamState, list[Entry]]:
    """Entries in (after, upto], at most ``count``, with the stream's state read atomically beside them
    (so the caller can tell whether trimming overtook its cursor)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xinfo_stream(key)
        pipe.xrange(key, min=exclusive(after), max=upto, count=count)
        info, entries = await pipe.execute(raise_on_error=False)
    if isinstance(entries, BaseException):
        raise entries
    return _state(info), list(entries)
