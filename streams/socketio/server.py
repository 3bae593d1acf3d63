"""The process's Socket.IO side: its websocket sockets, their Engine.IO heartbeat, and wake-ups of polls.

Heartbeat: every pingInterval each websocket socket gets a ``2`` (ping) frame, one pre-built frame written
the way events are (straight to the transport, else its queue), a 25th of the sockets every second; a
socket whose ``3`` (pong) has not come back by its next ping (pingInterval later, longer than
pingTimeout) is closed (the client reconnects and recovers). Long-polling sockets get their pings
in the answer of a poll that waited pingInterval (streams/socketio/polling.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from finance.market import Market
from streams.direct import text_frame
from streams.hub import Hub
from streams.socketio.fanout import SocketioSubscriber
from streams.socketio.packets import EngineType, encode_engine
from streams.socketio.protocol import PING_INTERVAL_MS, PING_TIMEOUT_MS

PING: Final = encode_engine(EngineType.PING)
_PING_WIRE: Final = text_frame(PING)
CLOSE_PING_TIMEOUT: Final = 4002
PING_GROUPS: Final = 25


class SocketioServer:
    def __init__(self, hub: Hub, ping_interval_ms: int = PING_INTERVAL_MS,
                 ping_timeout_ms: int = PING_TIMEOUT_MS) -> None:
        self.hub = hub
        self.market: Market = hub.market
        self.ping_interval = ping_interval_ms / 1000
        self.ping_timeout = ping_timeout_ms / 1000
        self.sockets: set[SocketioSubscriber] = set()  # websocket sockets, subscribed
        self.polls: dict[str, asyncio.Event] = {}  # sid -> the wake-up of a poll waiting in this process
        self._heartbeat: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat_forever(), name="socketio-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None

    def wake(self, sid: str) -> None:
        """A poll of ``sid`` waiting in this process has something to answer (a POST queued packets)."""
        event = self.polls.get(sid)
        if event is not None:
            event.set()

    def ping(self, group: int = 0, groups: int = 1) -> None:
        """Pings the sockets of ``group`` (of ``groups``), first closing those of them that left their
        previous ping unanswered."""
        now = asyncio.get_running_loop().time()
        for subscriber in list(self.sockets):
            if groups > 1 and hash(subscriber) % groups != group:
                continue
            if subscriber.pinged_at and subscriber.last_pong < subscriber.pinged_at:
                subscriber.close(CLOSE_PING_TIMEOUT)
                continue
            subscriber.pinged_at = now
            direct = subscriber.direct
            if direct is None or not direct.write(_PING_WIRE):
                subscriber.push(PING)

    async def _beat_forever(self) -> None:
        # the sockets are pinged in PING_GROUPS groups, one group per tick, so that their pongs (a message
        # each through the server) come back spread over the interval instead of in one burst
        group = 0
        while True:
            await asyncio.sleep(max(self.ping_interval, self.ping_timeout) / PING_GROUPS)
            self.ping(group, PING_GROUPS)
            group = (group + 1) % PING_GROUPS
