"""A socket handler whose cancellation was swallowed ends instead of pumping for ever.

Python 3.11's ``asyncio.wait_for`` (which redis-py wraps around every command it sends) returns the
result and drops a cancellation that lands just as the inner send completes (gh-86296). A handler
cancelled that way (its client gone during a Redis call of the handshake or the replay) went on to
pump a socket nobody read, for ever: tests/streams/test_stream_handover.py hung now and then on the
real Redis, in the test client's exit, which waits for the handler."""

from __future__ import annotations

import asyncio
import sys

from streams.subscriber import Subscriber


async def _never_sends(frame: str) -> None:
    raise AssertionError(f"nothing is queued, nothing may be sent: {frame!r}")


async def test_a_pump_started_after_a_swallowed_cancellation_ends_cancelled() -> None:
    loop = asyncio.get_running_loop()
    sent = loop.create_future()
    reached_the_pump = asyncio.Event()
    subscriber = Subscriber("usr_cancelled", queue_max=10)

    async def send_command() -> None:
        await sent

    async def handler() -> None:
        await asyncio.wait_for(send_command(), 2)  # as redis-py sends a command (socket_timeout set)
        reached_the_pump.set()
        await subscriber.pump(_never_sends)

    task = asyncio.create_task(handler())
    for _ in range(3):
        await asyncio.sleep(0)  # the handler waits in wait_for, its inner task waits for the send
    sent.set_result(None)
    await asyncio.sleep(0)  # the inner task completes; wait_for has not woken up yet
    task.cancel()  # the client leaves just then
    done, _ = await asyncio.wait({task}, timeout=2)
    if sys.version_info < (3, 12):
        assert reached_the_pump.is_set(), "the race did not happen: wait_for raised the cancellation"
    assert done == {task}, "the handler is still pumping a socket whose client has gone"
    assert task.cancelled()
    assert subscriber.close_code is None
