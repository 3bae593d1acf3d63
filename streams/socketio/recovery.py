"""Connection-state recovery: offsets, the per-socket ring of stream positions, and where to resume.

A socket reads two streams (its user's and the market's), but an event's offset is the same bytes for
every socket that gets it, so it names one stream only: ``m<id>`` for a market event, ``u<id>`` for a
user event. What a socket needs besides it is remembered here: where each stream started for it, and,
for each user event it was sent (rare beside market events), the market position it had been sent up to
then. From that and the client's last offset, both streams resume exactly where the client stopped
processing: a market offset ``m`` means every user event sent before it (those whose market position is
below ``m``), a user offset ``u`` means the market position recorded with ``u``.

The record is saved under the socket's pid when its transport drops (kept 2 minutes); the next CONNECT
with that pid takes it (GETDEL: a pid recovers once).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Final

import msgspec

from finance.stream_ids import ZERO, Order, id_of, parse_stream_id

RING_MAX: Final = 64
RECOVERY_SECONDS: Final = 120
USER_PREFIX: Final = "u"
MARKET_PREFIX: Final = "m"


def offset(stream: str, entry_id: str) -> str:
    return (USER_PREFIX if stream == "user" else MARKET_PREFIX) + entry_id


def parse_offset(raw: object) -> tuple[str, Order] | None:
    if not isinstance(raw, str) or len(raw) < 4 or raw[0] not in (USER_PREFIX, MARKET_PREFIX):
        return None
    order = parse_stream_id(raw[1:])
    return None if order is None else (raw[0], order)


@dataclass
class Positions:
    """One socket's recovery state: its streams' starting points and the ring of (user, market) positions."""

    user_start: Order
    market_start: Order
    ring: list[tuple[Order, Order]] = field(default_factory=list)  # (user, market), ascending
    dropped: bool = False  # the ring overflowed: its oldest entries are gone

    def user_sent(self, user: Order, market: Order) -> None:
        """A user event ``user`` was sent while the socket had been sent the market up to ``market``."""
        if user <= self.user_start:
            return  # before this socket's start (it joined above the feed's position)
        ring = self.ring
        if not ring or user > ring[-1][0]:
            ring.append((user, market))
        else:
            # a replayed entry recorded after live ones queued behind it: its place, once
            index = bisect.bisect_left(ring, (user, ZERO))
            if index < len(ring) and ring[index][0] == user:
                return
            ring.insert(index, (user, market))
        if len(ring) > RING_MAX:
            del ring[0]
            self.dropped = True

    def resume(self, last_offset: object) -> tuple[Order, Order] | None:
        """(user, market) positions to resume after, given the client's last offset (None: nothing
        received); None when they cannot be known (the ring no longer reaches back, or a bad offset)."""
        if last_offset is None:
            return self.user_start, self.market_start
        parsed = parse_offset(last_offset)
        if parsed is None:
            return None
        kind, order = parsed
        if kind == USER_PREFIX:
            if order <= self.user_start:
                return self.user_start, self.market_start
            for user, market in self.ring:
                if user == order:
                    return user, max(market, self.market_start)
            return None
        if order <= self.market_start:
            return self.user_start, self.market_start
        user_position = None
        for user, market in self.ring:
            if market < order:
                user_position = user
            else:
                break
        if user_position is None:
            if self.dropped:
                return None
            user_position = self.user_start
        return user_position, order

    def encode(self, user_id: str, session_key: str) -> bytes:
        return msgspec.json.encode(Record(user_id, session_key, id_of(self.user_start), id_of(self.market_start),
                                          [(id_of(u), id_of(m)) for u, m in self.ring], self.dropped))


class Record(msgspec.Struct, array_like=True):
    """A disconnected socket's state as saved under its pid."""

    user_id: str
    session_key: str
    user_start: str
    market_start: str
    ring: list[tuple[str, str]]
    dropped: bool

    def positions(self) -> Positions | None:
        starts = parse_stream_id(self.user_start), parse_stream_id(self.market_start)
        if starts[0] is None or starts[1] is None:
            return None
        positions = Positions(starts[0], starts[1], dropped=self.dropped)
        for user, market in self.ring:
            u, m = parse_stream_id(user), parse_stream_id(market)
            if u is None or m is None:
                return None
            positions.ring.append((u, m))
        return positions


def decode_record(raw: str | bytes | None) -> Record | None:
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=Record)
    except msgspec.DecodeError:
        return None
