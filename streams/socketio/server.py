"""The process's Socket.IO side: its websocket sockets, their Engine.IO heartbeat, and wake-ups of polls.

Heartbeat: every pingInterval each websocket socket gets a ``2`` (ping) frame, one pre-built frame written
the way events are (straight to the transport, else its queue), a 25th of the sockets every second; a
socket whose ``3`` (pong) has not come back by its next ping (pingInterval later, longer than
pingTimeout) is closed (the client reconnects and recovers). Long-polling sockets get their pings
in the answer of a poll that waited pingInterval (streams/socketio/polling.py).

Websocket sockets past their replay are lean sockets (streams/lean.py), kept in ``lean``: a registry
without WebSocket pings of its own (the Engine.IO ping above is the heartbeat), so that stopping can
wait for their closes; what they start that needs Redis (a recovery record, an ``authenticate``
answered) runs in ``spawn``'s tasks, which stopping waits for too, before Redis is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, Final

from finance.market import Market
from streams.direct import text_frame
from streams.hub import Hub
from streams.lean import Heartbeats
from streams.socketio.fanout import SocketioSubscriber
from streams.socketio.packets import EngineType, encode_engine
from streams.socketio.protocol import PING_INTERVAL_MS, PING_TIMEOUT_MS

PING: Final = encode_engine(EngineType.PING)
_PING_WIRE: Final = text_frame(PING)
CLOSE_PING_TIMEOUT: Final = 4002
PING_GROUPS: Final = 25
STOP_SECONDS_MAX: Final = 2.0  # how long stopping waits for the lean sockets' closes and records

log = logging.getLogger(__name__)


class SocketioServer:
    def __init__(self, hub: Hub, ping_interval_ms: int = PING_INTERVAL_MS,
                 ping_timeout_ms: int = PING_TIMEOUT_MS) -> None:
        self.hub = hub
        self.market: Market = hub.market
        self.ping_interval = ping_interval_ms / 1000
        self.ping_timeout = ping_timeout_ms / 1000
        self.sockets: set[SocketioSubscriber] = set()  # websocket sockets, subscribed
        self.polls: dict[str, asyncio.Event] = {}  # sid -> the wake-up of a poll waiting in this process
        self.lean = Heartbeats(0)  # the lean sockets: no WebSocket pings, only their registry
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat_forever(), name="socketio-heartbeat")

    async def stop(self) -> None:
        """After the hub closed the sockets: the heartbeat stopped, the lean sockets' closes and what they
        started waited for (a bounded time)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        await self.lean.stop(STOP_SECONDS_MAX / 2)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_SECONDS_MAX / 2)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs ``work`` (a lean socket's, which has no task of its own) as a task held here."""
        task = asyncio.create_task(_logged(work), name="socketio-socket-work")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except Exception:  # a socket's chore failing must not go unheard, nor reach the event loop's handler
        log.exception("socket.io: a socket's work failed")
