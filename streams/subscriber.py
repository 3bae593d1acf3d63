"""One socket's side of the fan-out: a bounded queue of encoded frames and the loop that sends them.

``push`` is what the hub calls for an event it could not write directly: it never awaits, so a socket
that is slow to read can delay no one but itself. When its queue is full the socket is closed with
4008; the client resumes with ``since``. ``close`` also interrupts a send that is stuck waiting for
the client to read.

``direct`` is the socket's fast path (streams/direct.py): the hub writes an event's frame bytes to it
instead of queueing, but only while it is set, and it is set only while nothing is queued and nothing
is being sent: the pump sets it when it finds its queue empty, and ``push`` and ``close`` clear it. So
a frame never overtakes one queued before it, and hello and replay (sent before the pump starts) go
first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final

from streams.direct import WRITE_BATCH_BYTES_MAX, text_frame

if TYPE_CHECKING:
    from streams.direct import DirectWriter

CLOSE_GOING_AWAY: Final = 1001
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_TOO_SLOW: Final = 4008

Send = Callable[[str], Awaitable[None]]
# a queue may pass its bound this many times over while its socket's transport is not backed up
QUEUE_SLACK: Final = 4


def _write_queued(queue: deque[str], writer: DirectWriter) -> bool:
    """Writes the frames at the head of the queue (up to WRITE_BATCH_BYTES_MAX) to the transport in one
    write, when it takes them at once, and takes them off the queue; says whether it did."""
    if not writer.ready():
        return False
    frames: list[bytes] = []
    size = 0
    for frame in queue:
        frames.append(text_frame(frame))
        size += len(frames[-1])
        if size >= WRITE_BATCH_BYTES_MAX:
            break
    if not writer.write(b"".join(frames)):
        return False
    for _ in frames:
        queue.popleft()
    return True


class Subscriber:
    __slots__ = ("_deadline", "_waiter", "close_code", "direct", "queue", "queue_max", "user_id", "writer")
    # another protocol's frames for this socket (streams.hub.Framer; streams/socketio): None for /ws
    framer: ClassVar[Any] = None

    def __init__(self, user_id: str, queue_max: int) -> None:
        self.user_id = user_id
        self.queue: deque[str] = deque()
        self.queue_max = queue_max
        self.close_code: int | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline: asyncio.Timeout | None = None
        self.writer: DirectWriter | None = None  # the socket's transport, where the fast path exists
        self.direct: DirectWriter | None = None  # the writer while the hub may use it (see above)

    def push(self, frame: str) -> None:
        if self.close_code is not None:
            return
        if len(self.queue) >= self.queue_max and self._backed_up():
            self.close(CLOSE_TOO_SLOW)
            return
        self.direct = None  # what comes after this frame waits for it in the queue
        self.queue.append(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _backed_up(self) -> bool:
        """Whether a full queue means a slow client: its transport is backed up (or there is no transport
        to ask, or the queue is QUEUE_SLACK times past its bound). A queue that filled while the pump was
        sending one frame to a socket that reads fine (a burst of a whole XREAD arrived meanwhile) is not."""
        writer = self.writer
        return writer is None or len(self.queue) >= self.queue_max * QUEUE_SLACK or not writer.ready()

    def close(self, code: int) -> None:
        """Ask the socket to close with ``code`` (the first code asked for wins); drops what is queued."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.direct = None
        self.queue.clear()
        if self._deadline is not None:
            # ends the pump even while it waits in a send that the client is not reading
            self._deadline.reschedule(asyncio.get_running_loop().time())
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def pump(self, send: Send, writer: DirectWriter | None = None) -> int:
        """Sends queued frames in order until the socket is asked to close; returns the close code.
        With a ``writer``, the hub writes to it directly whenever the queue is empty."""
        loop = asyncio.get_running_loop()
        queue = self.queue
        self.writer = writer
        try:
            async with asyncio.timeout(None) as self._deadline:
                while self.close_code is None:
                    if queue:
                        if writer is not None and _write_queued(queue, writer):
                            continue
                        await send(queue.popleft())
                    else:
                        self.direct = writer  # nothing queued, nothing in flight: the fast path may write
                        self._waiter = loop.create_future()
                        await self._waiter
        except TimeoutError:
            pass
        finally:
            self.direct = None
            self._deadline = None
            self._waiter = None
        assert self.close_code is not None
        return self.close_code
