"""One socket's side of the fan-out: a bounded queue of encoded frames and the loop that sends them.

``push`` is what the hub calls for an event it could not write directly: it never awaits, so a socket
that is slow to read can delay no one but itself. When its queue is full (QUEUE_BYTES_MAX of frames, or
``queue_max`` frames, whichever comes first) while its transport is backed up, the socket is closed with
4008; the client resumes with ``since``. The bound is in bytes because what a slow client has to catch up
on is bytes: a thousand pongs and a thousand 30 KB entries are not the same debt. ``close`` also
interrupts a send that is stuck waiting for the client to read.

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

from finance import metrics
from streams.counts import COUNTS
from streams.direct import WRITE_BATCH_BYTES_MAX, text_frame

if TYPE_CHECKING:
    from streams.direct import FrameWriter

CLOSE_GOING_AWAY: Final = 1001
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_TOO_SLOW: Final = 4008
# what a lean socket (streams/lean.py) records when its client closes, or its connection is lost: never
# sent (the client's own close is what gets echoed), only told apart in the socket's log line
CLIENT_CLOSED: Final = 1000
CONNECTION_LOST: Final = 1006
# what each close code means, for the socket's log line (None: the client went away first)
CLOSE_REASONS: Final = {CLOSE_GOING_AWAY: "server_stopping", CLOSE_TRY_AGAIN_LATER: "try_again_later",
                        CLOSE_UNAUTHORIZED: "session_ended", CLOSE_TOO_SLOW: "slow_consumer", None: "client_closed",
                        CLIENT_CLOSED: "client_closed", CONNECTION_LOST: "connection_lost"}

Send = Callable[[str], Awaitable[None]]
# a queue may pass its bound this many times over while its socket's transport is not backed up
QUEUE_SLACK: Final = 4
# bytes of frames a socket's queue may hold (besides the transport's own 64 KB) before it is too slow
QUEUE_BYTES_MAX: Final = 1024 * 1024


def write_queued(queue: deque[str], writer: FrameWriter) -> int:
    """Writes the frames at the head of the queue (up to WRITE_BATCH_BYTES_MAX) to the transport in one
    write, when it takes them at once, and takes them off the queue; returns their length as queued
    (0: it did not)."""
    if not writer.ready():
        return 0
    frames: list[bytes] = []
    size = 0
    for frame in queue:
        frames.append(text_frame(frame))
        size += len(frames[-1])
        if size >= WRITE_BATCH_BYTES_MAX:
            break
    if not writer.write(b"".join(frames)):
        return 0
    return sum(len(queue.popleft()) for _ in frames)


def _cancel_was_swallowed() -> bool:
    """Whether this task was asked to stop and went on anyway. Python 3.11's ``asyncio.wait_for``, which
    redis-py wraps around every command it sends, returns the result and drops a cancellation that lands
    just as the send completes (gh-86296, fixed in 3.12). A socket handler cancelled that way (its client
    gone, during a Redis call of the handshake or the replay) would go on to pump for ever, holding its
    subscription; the task still counts the request (``cancelling()``), so the pump refuses to start."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Subscriber:
    __slots__ = ("_deadline", "_waiter", "close_code", "direct", "notify", "queue", "queue_bytes",
                 "queue_bytes_max", "queue_max", "user_id", "writer")
    # another protocol's frames for this socket (streams.hub.Framer; streams/socketio): None for /ws
    framer: ClassVar[Any] = None

    def __init__(self, user_id: str, queue_max: int, queue_bytes_max: int = QUEUE_BYTES_MAX) -> None:
        self.user_id = user_id
        self.queue: deque[str] = deque()
        self.queue_max = queue_max
        self.queue_bytes = 0  # the length of the frames queued (characters: the bytes of ASCII JSON)
        self.queue_bytes_max = queue_bytes_max
        self.close_code: int | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline: asyncio.Timeout | None = None
        self.writer: FrameWriter | None = None  # the socket's transport, where the fast path exists
        self.direct: FrameWriter | None = None  # the writer while the hub may use it (see above)
        # instead of a pump task: called when a frame is queued or the socket is asked to close
        self.notify: Callable[[], None] | None = None

    def push(self, frame: str) -> None:
        if self.close_code is not None:
            return
        if (len(self.queue) >= self.queue_max or self.queue_bytes + len(frame) > self.queue_bytes_max) \
                and self._backed_up():
            self.close(CLOSE_TOO_SLOW)
            return
        self.direct = None  # what comes after this frame waits for it in the queue
        self.queue.append(frame)
        self.queue_bytes += len(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self.notify is not None:
            self.notify()

    def _backed_up(self) -> bool:
        """Whether a full queue means a slow client: its transport is backed up (or there is no transport
        to ask, or the queue is QUEUE_SLACK times past its bound). A queue that filled while the pump was
        sending one frame to a socket that reads fine (a burst of a whole XREAD arrived meanwhile) is not."""
        writer = self.writer
        return (writer is None or len(self.queue) >= self.queue_max * QUEUE_SLACK
                or self.queue_bytes >= self.queue_bytes_max * QUEUE_SLACK or not writer.ready())

    def close(self, code: int) -> None:
        """Ask the socket to close with ``code`` (the first code asked for wins); drops what is queued."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.direct = None
        if code == CLOSE_TOO_SLOW:
            COUNTS.closed_too_slow += 1
            COUNTS.frames_dropped += len(self.queue)
            metrics.slow_consumer_closed()
        self.queue.clear()
        self.queue_bytes = 0
        if self._deadline is not None:
            # ends the pump even while it waits in a send that the client is not reading
            self._deadline.reschedule(asyncio.get_running_loop().time())
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        elif self.notify is not None:
            self.notify()

    async def pump(self, send: Send, writer: FrameWriter | None = None) -> int:
        """Sends queued frames in order until the socket is asked to close; returns the close code.
        With a ``writer``, the hub writes to it directly whenever the queue is empty."""
        if _cancel_was_swallowed():
            raise asyncio.CancelledError()
        loop = asyncio.get_running_loop()
        queue = self.queue
        self.writer = writer
        try:
            async with asyncio.timeout(None) as self._deadline:
                while self.close_code is None:
                    if queue:
                        if writer is not None and (written := write_queued(queue, writer)):
                            self.queue_bytes -= written
                            continue
                        frame = queue.popleft()
                        self.queue_bytes -= len(frame)
                        await send(frame)
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
