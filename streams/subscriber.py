"""One socket's side of the fan-out: a bounded queue of encoded frames and the loop that sends them.

``push`` is what the hub calls for every event: it never awaits, so a socket that is slow to read can
delay no one but itself. When its queue is full the socket is closed with 4008; the client resumes
with ``since``. ``close`` also interrupts a send that is stuck waiting for the client to read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

CLOSE_GOING_AWAY: Final = 1001
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_TOO_SLOW: Final = 4008

Send = Callable[[str], Awaitable[None]]


class Subscriber:
    __slots__ = ("_deadline", "_waiter", "close_code", "queue", "queue_max", "user_id")

    def __init__(self, user_id: str, queue_max: int) -> None:
        self.user_id = user_id
        self.queue: deque[str] = deque()
        self.queue_max = queue_max
        self.close_code: int | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline: asyncio.Timeout | None = None

    def push(self, frame: str) -> None:
        if self.close_code is not None:
            return
        if len(self.queue) >= self.queue_max:
            self.close(CLOSE_TOO_SLOW)
            return
        self.queue.append(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self, code: int) -> None:
        """Ask the socket to close with ``code`` (the first code asked for wins); drops what is queued."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.queue.clear()
        if self._deadline is not None:
            # ends the pump even while it waits in a send that the client is not reading
            self._deadline.reschedule(asyncio.get_running_loop().time())
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def pump(self, send: Send) -> int:
        """Sends queued frames in order until the socket is asked to close; returns the close code."""
        loop = asyncio.get_running_loop()
        queue = self.queue
        try:
            async with asyncio.timeout(None) as self._deadline:
                while self.close_code is None:
                    if queue:
                        await send(queue.popleft())
                    else:
                        self._waiter = loop.create_future()
                        await self._waiter
        except TimeoutError:
            pass
        finally:
            self._deadline = None
            self._waiter = None
        assert self.close_code is not None
        return self.close_code
