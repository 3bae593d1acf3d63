"""Socket.IO sockets in the hub's fan-out, without a server: their frames built once per batch beside the
/ws frames, their recovery ring kept from what the user feed sent, 4008 for a slow one, the heartbeat."""

from __future__ import annotations

import json
from typing import Any

from streams.hub import Batch, Feed
from streams.socketio.fanout import FRAMER, SocketioSubscriber
from streams.socketio.server import CLOSE_PING_TIMEOUT, SocketioServer
from streams.subscriber import CLOSE_TOO_SLOW, Subscriber


def entries(*ids: str, event: str = "invoiceUpdated") -> list[tuple[str, dict[str, str]]]:
    return [(entry_id, {"event": event, "data": '{"id":"inv-' + entry_id + '"}'}) for entry_id in ids]


def test_socketio_frames_are_built_once_per_batch_for_all_their_sockets(monkeypatch: Any) -> None:
    calls: list[int] = []
    original = FRAMER.frame

    def counting(stream: str, batch: Batch) -> tuple[Batch, bytes]:
        calls.append(len(batch))
        return original(stream, batch)

    monkeypatch.setattr(FRAMER, "frame", counting)
    ws = Subscriber("u1", queue_max=10)
    sio = [SocketioSubscriber(f"u{n}", queue_max=10) for n in range(3)]
    feed = Feed("market", "key", (0, 0))
    feed.subscribers |= {ws, *sio}
    feed.deliver(entries("1-0", "2-0"))
    feed.deliver(entries("3-0"))
    assert calls == [2, 1]  # one build per batch, whatever the number of sockets
    assert [json.loads(frame)["id"] for frame in ws.queue] == ["1-0", "2-0", "3-0"]
    for subscriber in sio:
        assert list(subscriber.queue) == [
            '42["invoiceUpdated",{"id":"inv-1-0"},"m1-0"]',
            '42["invoiceUpdated",{"id":"inv-2-0"},"m2-0"]',
            '42["invoiceUpdated",{"id":"inv-3-0"},"m3-0"]',
        ]


def test_the_user_feed_keeps_each_sockets_ring_with_the_market_position_it_went_after() -> None:
    market, user = Feed("market", "m", (100, 0)), Feed("user", "u", (10, 0))
    subscriber = SocketioSubscriber("u1", queue_max=20)
    market.subscribers.add(subscriber)
    user.subscribers.add(subscriber)
    subscriber.joined({"user": (10, 0), "market": (100, 0)}, [user, market])
    market.deliver(entries("101-0"))
    user.deliver(entries("11-0", event="walletUpdated"))
    market.deliver(entries("102-0", "103-0"))
    user.deliver(entries("12-0", event="walletUpdated"))
    assert subscriber.positions.ring == [((11, 0), (101, 0)), ((12, 0), (103, 0))]
    assert [frame.rsplit(",", 1)[1] for frame in subscriber.queue] == [
        '"m101-0"]', '"u11-0"]', '"m102-0"]', '"m103-0"]', '"u12-0"]']
    assert subscriber.positions.resume("m103-0") == ((11, 0), (103, 0))


def test_a_slow_socketio_consumer_is_closed_with_4008_alone() -> None:
    slow, fast = SocketioSubscriber("u1", queue_max=2), SocketioSubscriber("u2", queue_max=2)
    feed = Feed("market", "key", (0, 0))
    feed.subscribers |= {slow, fast}
    feed.deliver(entries("1-0", "2-0"))
    fast.queue.clear()
    feed.deliver(entries("3-0"))
    assert slow.close_code == CLOSE_TOO_SLOW and not slow.queue
    assert fast.close_code is None and len(fast.queue) == 1


async def test_the_heartbeat_pings_every_socket_and_closes_those_that_left_a_ping_unanswered() -> None:
    class FakeHub:
        market = None

    server = SocketioServer(FakeHub())  # type: ignore[arg-type]
    answered, silent = SocketioSubscriber("u1", queue_max=5), SocketioSubscriber("u2", queue_max=5)
    server.sockets |= {answered, silent}
    server.ping()
    assert list(answered.queue) == ["2"] and list(silent.queue) == ["2"]
    answered.last_pong = answered.pinged_at + 0.001  # its 3 came back
    server.ping()
    assert silent.close_code == CLOSE_PING_TIMEOUT and answered.close_code is None
    assert list(answered.queue) == ["2", "2"]
    # in groups: each socket is pinged on its group's tick only
    fresh = [SocketioSubscriber(f"g{n}", queue_max=5) for n in range(20)]
    server.sockets = set(fresh)
    for group in range(5):
        server.ping(group, 5)
    assert all(list(subscriber.queue) == ["2"] for subscriber in fresh)
