"""The process's one stream reader: a blocking XREAD over every stream its sockets need, on its own connection.

Each round reads the market stream and the user streams of the connected users from the last id
delivered for each, and hands what it got to the hub. When a socket needs a stream the current
XREAD does not cover, the reader is woken with CLIENT UNBLOCK (sent on the app's pooled connection)
so the next XREAD includes it; the block timeout is only a backstop for that. Redis being away never
ends the loop: it backs off, reconnects and resumes each stream from the last id it delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis

from finance import metrics
from finance.connection import UNAVAILABLE_ERRORS
from streams.source import Entry

log = logging.getLogger(__name__)

BLOCK_MS: Final = 2_000
# beyond the block time, how long a reply may take before the connection is taken for dead
REPLY_GRACE_SECONDS: Final = 5.0
READ_COUNT: Final = 1_000
BACKOFF_SECONDS_MIN: Final = 0.05
BACKOFF_SECONDS_MAX: Final = 1.0
# TimeoutError: no reply within the grace; the connection is dropped and made again
RETRY_ERRORS: Final[tuple[type[BaseException], ...]] = (*UNAVAILABLE_ERRORS, TimeoutError)

# what the reader needs from the hub: the positions to read from (with a version that changes when the
# set of streams changes), and where to deliver what it read: (key, the id it read after, entries)
Positions = Callable[[], tuple[int, dict[str, str]]]
# (awaited: a large fan-out pauses in it to let HTTP requests run)
Deliver = Callable[[str, str, list[Entry]], Awaitable[None]]


class Reader:
    def __init__(self, redis: Redis, control: Redis, positions: Positions, deliver: Deliver,
                 block_ms: int = BLOCK_MS) -> None:
        self.redis = redis  # the reader's own connection: it spends its time blocked in XREAD
        self.control = control  # the app's pool, for CLIENT UNBLOCK
        self.positions = positions
        self.deliver = deliver
        self.block_ms = block_ms
        self.read_version = -1  # the streams version of the XREAD in flight
        self.wanted_version = 0
        self.work = asyncio.Event()  # set when there is something to read
        self.available = True
        self.stopping = False
        self._client_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._waker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="stream-reader")

    async def stop(self) -> None:
        self.stopping = True
        for task in (self._waker, self._task):
            # cancelled until it is done: on Python 3.11 a cancellation that lands as a reply arrives can
            # be swallowed inside the client (asyncio.wait_for, gh-86296), and the loop would read on
            while task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
        self._task = self._waker = None
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    def wake(self, version: int) -> None:
        """The set of streams changed (now ``version``): make the XREAD in flight return and re-read."""
        self.wanted_version = max(self.wanted_version, version)
        self.work.set()
        if self._waker is None or self._waker.done():
            self._waker = asyncio.create_task(self._unblock(), name="stream-reader-waker")

    async def run(self) -> None:
        backoff = BACKOFF_SECONDS_MIN
        while not self.stopping:
            version, streams = self.positions()
            if not streams:
                self.work.clear()
                await self.work.wait()
                continue
            try:
                if self._client_id is None:
                    self._client_id = int(await self.redis.client_id())
                self.read_version = version
                async with asyncio.timeout(self.block_ms / 1000 + REPLY_GRACE_SECONDS):
                    reply: Any = await self.redis.xread(streams, count=READ_COUNT, block=self.block_ms)
            except RETRY_ERRORS as error:
                self._client_id = None  # a new connection has a new id
                metrics.redis_error("stream_reader")
                if self.available:
                    log.warning("stream reader: redis unavailable (%s); retrying", error)
                    self.available = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_SECONDS_MAX)
                continue
            except Exception:
                # a reply we do not understand must not end live delivery for the whole process
                log.exception("stream reader: unexpected error; retrying")
                self._client_id = None
                await asyncio.sleep(BACKOFF_SECONDS_MAX)
                continue
            if not self.available:
                log.warning("stream reader: redis is back; resuming from the last delivered ids")
                self.available = True
            backoff = BACKOFF_SECONDS_MIN
            for key, entries in reply or ():
                try:
                    await self.deliver(key, streams[key], entries)
                except Exception:  # a bug in delivery must not end live delivery for the whole process
                    log.exception("stream reader: delivering %d entries of %s failed", len(entries), key)

    async def _unblock(self) -> None:
        """CLIENT UNBLOCK the reader until an XREAD with the wanted streams is in flight. A single
        unblock can miss (it may reach Redis before the XREAD it means to end), so it repeats."""
        delay = 0.002
        waited = 0.0
        while self.read_version < self.wanted_version and waited < self.block_ms / 1000:
            client_id = self._client_id
            if client_id is not None:
                with contextlib.suppress(Exception):
                    await self.control.client_unblock(client_id)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)
