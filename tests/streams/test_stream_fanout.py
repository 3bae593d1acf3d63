"""The fan-out's pieces without a server: bounded queues, 4008, floors, duplicates, frame encoding."""

from __future__ import annotations

import asyncio
import json

from finance.stream_ids import parse_stream_id as parse_id
from streams.envelope import entry_frame, hello_frame
from streams.hub import Feed
from streams.source import StreamState
from streams.subscriber import CLOSE_GOING_AWAY, CLOSE_TOO_SLOW, Subscriber


def entries(*ids: str) -> list[tuple[str, dict[str, str]]]:
    return [(entry_id, {"event": "walletUpdated", "data": '{"n":"' + entry_id + '"}'}) for entry_id in ids]


def queued_ids(subscriber: Subscriber) -> list[str]:
    return [json.loads(frame)["id"] for frame in subscriber.queue]


def test_a_full_queue_closes_only_that_subscriber_with_4008() -> None:
    slow, fast = Subscriber("u1", queue_max=3), Subscriber("u1", queue_max=3)
    feed = Feed("user", "key", (0, 0))
    feed.subscribers |= {slow, fast}
    feed.deliver(entries("1-0", "2-0", "3-0"))
    fast.queue.clear()  # fast keeps up
    feed.deliver(entries("4-0"))
    assert slow.close_code == CLOSE_TOO_SLOW
    assert not slow.queue  # what it had queued is dropped: it resumes with since
    assert fast.close_code is None
    assert queued_ids(fast) == ["4-0"]
    feed.deliver(entries("5-0"))
    assert not slow.queue
    assert queued_ids(fast) == ["4-0", "5-0"]


def test_an_entry_at_or_below_the_feeds_position_is_not_delivered_twice() -> None:
    subscriber = Subscriber("u1", queue_max=10)
    feed = Feed("market", "key", (5, 0))
    feed.subscribers.add(subscriber)
    feed.deliver(entries("4-0", "5-0", "5-1", "6-0"))
    feed.deliver(entries("5-1", "6-0", "7-0"))
    assert queued_ids(subscriber) == ["5-1", "6-0", "7-0"]
    assert feed.position == (7, 0)


def test_a_subscriber_with_a_floor_skips_live_entries_up_to_it() -> None:
    ahead, current = Subscriber("u1", queue_max=10), Subscriber("u1", queue_max=10)
    feed = Feed("user", "key", (1, 0))
    feed.subscribers |= {ahead, current}
    feed.floors[ahead] = (3, 0)
    feed.deliver(entries("2-0", "3-0", "4-0"))
    assert queued_ids(ahead) == ["4-0"]
    assert queued_ids(current) == ["2-0", "3-0", "4-0"]
    assert not feed.floors


async def test_pump_sends_in_order_and_close_interrupts_a_send_that_never_completes() -> None:
    subscriber = Subscriber("u1", queue_max=10)
    sent: list[str] = []
    blocked = asyncio.Event()

    async def send(frame: str) -> None:
        if frame == "stuck":
            blocked.set()
            await asyncio.Event().wait()  # a client that stopped reading
        sent.append(frame)

    pump = asyncio.create_task(subscriber.pump(send))
    for frame in ("a", "b", "stuck", "never"):
        subscriber.push(frame)
    await asyncio.wait_for(blocked.wait(), 1)
    subscriber.close(CLOSE_GOING_AWAY)
    assert await asyncio.wait_for(pump, 1) == CLOSE_GOING_AWAY
    assert sent == ["a", "b"]


def test_stream_ids_parse_strictly() -> None:
    assert parse_id("1732412345678-0") == (1732412345678, 0)
    assert parse_id("18446744073709551615-18446744073709551615") == (2**64 - 1, 2**64 - 1)
    for bad in ("", "1", "1-", "-1", "1-0\n", "a-0", "1-0-0", "18446744073709551616-0", "١-0"):
        assert parse_id(bad) is None, bad


def test_frames_are_exact_json() -> None:
    frame = entry_frame("user", "1-0", {"event": 'we"ird', "data": '{"a":[1,2]}'})
    assert json.loads(frame) == {"type": "event", "stream": "user", "id": "1-0", "event": 'we"ird',
                                 "data": {"a": [1, 2]}}
    assert json.loads(hello_frame("usr_1", False, "3-0", "0-0")) == {
        "type": "hello", "userId": "usr_1", "recovered": False, "since": "3-0", "marketSince": "0-0"}


def test_recovered_rule() -> None:
    untrimmed = StreamState(last=(9, 0), first=(1, 0), removed=0)
    assert not untrimmed.lost_after((0, 0))
    assert untrimmed.lost_after((9, 1))  # ahead of the stream: the server lost data
    trimmed = StreamState(last=(9, 0), first=(5, 0), removed=4)
    assert trimmed.lost_after((4, 0))
    assert not trimmed.lost_after((5, 0))
    assert not trimmed.lost_after((9, 0))


def test_a_reader_too_far_behind_sheds_an_eighth_of_the_sockets_with_1013_and_counts_them() -> None:
    import time
    from dataclasses import dataclass

    from streams.counts import COUNTS
    from streams.shedding import SHED_SHARE, Shedder

    @dataclass(eq=False)
    class Held:
        subscriber: Subscriber

    held = [Held(Subscriber("u", queue_max=10)) for _ in range(80)]
    shedder = Shedder(lag_seconds_max=2.0)
    now_ms = int(time.time() * 1000)
    before = COUNTS.shed
    assert shedder.check(entries(f"{now_ms - 500}-0"), held) == 0  # half a second behind: fine
    assert shedder.check(entries(f"{now_ms - 5_000}-0", f"{now_ms - 2_500}-0"), held) == 80 // SHED_SHARE
    closed = [h for h in held if h.subscriber.close_code is not None]
    assert len(closed) == 10 and {h.subscriber.close_code for h in closed} == {1013}
    assert shedder.check(entries(f"{now_ms - 5_000}-0"), held) == 0  # at most one round per interval
    assert COUNTS.shed - before == 10
