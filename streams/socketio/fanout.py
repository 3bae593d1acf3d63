"""Socket.IO on the hub's fan-out fast path: a subscriber whose frames are ``42["event",data,"offset"]``.

The hub (streams/hub.py) builds each batch's Socket.IO frames once, through ``FRAMER``, for every
Socket.IO socket of the feed, and writes them as it writes /ws frames: straight to the transport, or to
the socket's bounded queue (4008 when a slow consumer fills it). For a user feed it also tells the
socket what it was sent, so that its recovery ring (streams/socketio/recovery.py) stays exact.
"""

from __future__ import annotations

from typing import Final

from finance.stream_ids import ZERO, Order
from streams.direct import text_frame
from streams.hub import MARKET, USER, Batch, Feed
from streams.socketio.packets import event_packet
from streams.socketio.recovery import Positions, offset
from streams.subscriber import Subscriber


def stream_packet(stream: str, entry_id: str, fields: dict[str, str]) -> str:
    """The Socket.IO frame of one stream entry: its event, its data (raw JSON) and its offset."""
    return event_packet(fields.get("event", ""), fields.get("data", ""), offset(stream, entry_id))


class SocketioFramer:
    """The hub's Framer for Socket.IO sockets (one for the process)."""

    def frame(self, stream: str, batch: Batch) -> tuple[Batch, bytes]:
        framed: Batch = []
        for order, _, _, entry in batch:
            packet = stream_packet(stream, entry[0], entry[1])
            framed.append((order, packet, text_frame(packet), entry))
        wire = framed[0][2] if len(framed) == 1 else b"".join([item[2] for item in framed])
        return framed, wire

    def delivered(self, subscriber: Subscriber, stream: str, batch: Batch) -> None:
        if stream == USER and isinstance(subscriber, SocketioSubscriber):
            market = subscriber.market_position()
            for item in batch:
                subscriber.positions.user_sent(item[0], market)


FRAMER: Final = SocketioFramer()


class SocketioSubscriber(Subscriber):
    """A Socket.IO socket in the hub: its frames are FRAMER's, and it keeps its recovery positions."""

    __slots__ = ("last_pong", "market_feed", "pinged_at", "positions")
    framer = FRAMER

    def __init__(self, user_id: str, queue_max: int) -> None:
        super().__init__(user_id, queue_max)
        self.positions = Positions(ZERO, ZERO)
        self.market_feed: Feed | None = None
        self.last_pong = 0.0  # loop time of the last pong (or of the subscription, which counts as one)
        self.pinged_at = 0.0  # loop time of the last Engine.IO ping (0: none yet)

    def market_position(self) -> Order:
        """How far the market has been sent to this socket: the feed's position (every live socket of the
        feed has been sent, or has queued, everything up to it)."""
        feed = self.market_feed
        return feed.position if feed is not None else self.positions.market_start

    def joined(self, starts: dict[str, Order], feeds: list[Feed]) -> None:
        """Called once subscribed: where its streams start, and its market feed."""
        self.positions = Positions(starts.get(USER, ZERO), starts.get(MARKET, ZERO))
        self.market_feed = next((feed for feed in feeds if feed.name == MARKET), None)
