"""The fast path: each event framed once and written straight to the sockets' transports.

What it relies on is pinned here against the installed Hypercorn and wsproto (see streams/direct.py and
docs/websocket.md): if an upgrade changes the attribute chain or the frame bytes, these tests fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
import wsproto.extensions
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol, H11WSConnection
from hypercorn.protocol.ws_stream import WSStream
from websockets.asyncio.client import connect
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Ping, TextMessage

from streams.asgi import SCOPE_KEY
from streams.direct import WRITE_BUFFER_BYTES_MAX, DirectWriter, direct_writer, text_frame
from streams.hub import FANOUT_BUSY_SECONDS, FANOUT_REST_SECONDS, FANOUT_SLICE, FANOUT_SLICE_BYTES, Feed, Hub
from streams.lean import LeanSocket
from streams.shedding import Shedder
from streams.subscriber import CLOSE_TOO_SLOW, Subscriber
from tests.conftest import Backend
from tests.helpers.api import register
from tests.helpers.servers import market_of, serving, stream_ids


def entries(*ids: str) -> list[tuple[str, dict[str, str]]]:
    return [(entry_id, {"event": "walletUpdated", "data": '{"n":"' + entry_id + '"}'}) for entry_id in ids]


def subscriber_direct(subscriber: Subscriber) -> DirectWriter | None:
    return subscriber.direct  # (read through a call: mypy narrows the attribute across awaits)


def ids_of(frames: list[str]) -> list[str]:
    return [json.loads(frame)["id"] for frame in frames]


# --- the frame bytes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_text_frame_is_byte_for_byte_what_wsproto_sends_and_leaves_its_state_as_it_was(size: int) -> None:
    frame = "é" * (size // 2) + "x" * (size % 2)  # ``size`` bytes of UTF-8
    server = Connection(ConnectionType.SERVER)
    before = (server.state, server._proto._outbound_opcode)
    assert text_frame(frame) == server.send(TextMessage(data=frame))
    # a whole data message sent through wsproto changes none of its state: bytes written behind its
    # back cannot leave it out of step
    assert (server.state, server._proto._outbound_opcode) == before == (ConnectionState.OPEN, None)


def test_wsproto_still_closes_normally_after_frames_it_never_saw() -> None:
    server, client = Connection(ConnectionType.SERVER), Connection(ConnectionType.CLIENT)
    client.receive_data(text_frame('{"type":"event","id":"1-0"}') + server.send(Ping(b"hb")))
    client.receive_data(server.send(CloseConnection(code=4008)))
    received = list(client.events())
    assert isinstance(received[0], TextMessage) and received[0].data == '{"type":"event","id":"1-0"}'
    assert isinstance(received[1], Ping)
    assert isinstance(received[2], CloseConnection) and received[2].code == 4008


# --- the writer's refusals -----------------------------------------------------------------------------


class FakeTransport(asyncio.WriteTransport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False
        self.buffered = 0

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing


class FakeStream:
    closed = False


def fake_writer() -> tuple[DirectWriter, FakeStream, Connection, FakeTransport]:
    stream, connection, transport = FakeStream(), Connection(ConnectionType.SERVER), FakeTransport()
    return DirectWriter(stream, connection, transport), stream, connection, transport


def test_the_writer_refuses_a_backed_up_closing_or_closed_socket() -> None:
    writer, stream, connection, transport = fake_writer()
    assert writer.write(b"a")
    transport.buffered = WRITE_BUFFER_BYTES_MAX
    assert not writer.write(b"b")  # backed up: the queue takes it
    transport.buffered = 0
    transport.closing = True
    assert not writer.write(b"c")
    transport.closing = False
    stream.closed = True
    assert not writer.write(b"d")
    stream.closed = False
    connection.send(CloseConnection(code=1000))  # a close frame went out: no data after it
    assert not writer.write(b"e")
    assert transport.written == [b"a"]


# --- ordering across the switch between direct writes and the queue ------------------------------------


def frame_ids(wire: bytes) -> list[str]:
    found, offset = [], 0
    while offset < len(wire):
        length = wire[offset + 1]
        assert wire[offset] == 0x81 and length < 126  # FIN + text, unmasked, short
        found.append(json.loads(wire[offset + 2: offset + 2 + length])["id"])
        offset += 2 + length
    return found


async def test_a_socket_with_anything_queued_queues_until_its_pump_has_sent_it() -> None:
    writer, _, _, transport = fake_writer()
    wire: list[str] = []  # what reached the socket, direct or through the pump, in order

    def write(data: Any) -> None:
        wire.extend(frame_ids(bytes(data)))

    transport.write = write  # type: ignore[method-assign]
    send_gate = asyncio.Event()

    async def send(frame: str) -> None:
        await send_gate.wait()  # the pump's send is slow: things stay queued for a while
        wire.append(json.loads(frame)["id"])

    subscriber = Subscriber("u1", queue_max=10)
    feed = Feed("user", "key", (0, 0))
    feed.subscribers.add(subscriber)
    feed.deliver(entries("1-0"))  # before the pump runs (hello and replay): queued
    transport.buffered = WRITE_BUFFER_BYTES_MAX  # backed up: the pump sends 1-0 through the ASGI send
    pump = asyncio.create_task(subscriber.pump(send, writer))
    await asyncio.sleep(0)
    assert subscriber.direct is None  # the pump is sending 1-0
    feed.deliver(entries("2-0"))  # queued behind it
    transport.buffered = 0
    send_gate.set()
    await asyncio.sleep(0.01)  # 1-0 sent; 2-0 written straight from the queue, the transport taking it
    assert subscriber_direct(subscriber) is writer  # all sent: back on the fast path
    transport.buffered = WRITE_BUFFER_BYTES_MAX
    feed.deliver(entries("3-0"))  # backed up: queued, and the fast path is off until it is sent
    transport.buffered = 0
    feed.deliver(entries("4-0"))  # the transport would take it, but 3-0 is queued: 4-0 queues behind
    assert subscriber.direct is None
    await asyncio.sleep(0.01)  # the pump writes 3-0 and 4-0 in one write
    feed.deliver(entries("5-0"))  # direct again
    assert wire == ["1-0", "2-0", "3-0", "4-0", "5-0"]
    subscriber.close(1000)
    await pump
    assert subscriber.direct is None


async def test_a_burst_past_the_queue_bound_closes_only_a_socket_that_is_backed_up() -> None:
    """A whole XREAD (up to 1,000 entries) can arrive while the pump sends one frame (a pong) to a
    socket that reads fine: its queue passes the bound, but 4008 is for a backed-up transport only."""
    ids = [f"{n}-0" for n in range(1, 31)]
    for backed_up, expected_code in ((False, None), (True, CLOSE_TOO_SLOW)):
        writer, _, _, transport = fake_writer()
        wire: list[str] = []
        transport.write = lambda data, wire=wire: wire.extend(frame_ids(bytes(data)))  # type: ignore[method-assign]
        send_gate = asyncio.Event()

        async def send(frame: str, gate: asyncio.Event = send_gate, wire: list[str] = wire) -> None:
            await gate.wait()
            wire.append(json.loads(frame)["id"])

        subscriber = Subscriber("u1", queue_max=10)
        subscriber.push('{"type":"event","id":"0-1"}')  # the pong in flight, say
        transport.buffered = WRITE_BUFFER_BYTES_MAX  # so the pump takes the ASGI send for it
        pump = asyncio.create_task(subscriber.pump(send, writer))
        await asyncio.sleep(0)
        transport.buffered = WRITE_BUFFER_BYTES_MAX if backed_up else 0
        feed = Feed("user", "key", (0, 0))
        feed.subscribers.add(subscriber)
        feed.deliver(entries(*ids))  # 30 entries against a bound of 10
        assert subscriber.close_code == expected_code
        transport.buffered = 0
        send_gate.set()
        await asyncio.sleep(0.01)
        if not backed_up:
            assert wire == ["0-1", *ids]  # every frame, in order
            subscriber.close(1000)
        await pump


def test_the_writer_leaves_the_transport_to_a_send_of_hypercorns_waiting_to_drain() -> None:
    """Hypercorn holds its send lock while a ping, pong or close waits for the buffer to drain: writes
    of ours past it could starve it, so they queue behind it."""
    stream, connection, transport = FakeStream(), Connection(ConnectionType.SERVER), FakeTransport()
    lock = asyncio.Lock()
    writer = DirectWriter(stream, connection, transport, lock)
    assert writer.write(b"a")
    lock._locked = True  # as while a holder is suspended in drain()
    assert not writer.write(b"b") and not writer.ready()
    lock._locked = False
    transport.write = lambda data: (_ for _ in ()).throw(RuntimeError("write_eof was called"))  # type: ignore
    assert not writer.write(b"c")  # a transport that raises: the frame is not lost, it queues
    assert transport.written == [b"a"]


def test_consecutive_entries_go_out_in_one_write_and_a_floor_cuts_the_batch() -> None:
    feed = Feed("user", "key", (0, 0))
    plain, ahead, queued = Subscriber("u1", 10), Subscriber("u1", 10), Subscriber("u1", 10)
    plain_writer, _, _, plain_transport = fake_writer()
    ahead_writer, _, _, ahead_transport = fake_writer()
    plain.direct, ahead.direct = plain_writer, ahead_writer
    feed.subscribers |= {plain, ahead, queued}
    feed.floors[ahead] = (2, 0)
    feed.deliver(entries("1-0", "2-0", "3-0"))
    assert [frame_ids(w) for w in plain_transport.written] == [["1-0", "2-0", "3-0"]]
    assert [frame_ids(w) for w in ahead_transport.written] == [["3-0"]]
    assert not feed.floors
    assert ids_of(list(queued.queue)) == ["1-0", "2-0", "3-0"]
    assert feed.position == (3, 0)


# --- pacing: the reader lets other tasks run between slices of a large fan-out -------------------------


async def test_a_large_fan_out_pauses_between_slices_and_a_socket_joining_in_a_pause_gets_each_entry_once() -> None:
    hub = Hub.__new__(Hub)  # only the delivery side: no market, no reader
    hub._served_since_pause = hub._bytes_since_pause = hub.requests_in_flight = 0
    hub._busy_since = hub._paused_at = 0.0
    hub.shedder, hub.subscriptions = Shedder(), set()
    feed = Feed("market", "key", (0, 0))
    hub.feeds = {"key": feed}
    subscribers = [Subscriber("u", queue_max=10) for _ in range(FANOUT_SLICE * 4)]
    feed.subscribers.update(subscribers)
    late = Subscriber("late", queue_max=10)
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(len([s for s in subscribers if s.queue]))
            if len(ticks) == 2:  # joins during the first entry's fan-out, after its position moved
                assert feed.position == (1, 0)
                feed.subscribers.add(late)  # (it would replay up to 1-0: the live 1-0 must skip it)
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await hub.deliver_paced("key", "0-0", entries("1-0"))
    ticks_in_first = len(ticks)
    await hub.deliver_paced("key", "1-0", entries("2-0", "3-0"))  # one batch: one write on the fast path
    ticking.cancel()
    # the ticker ran between the slices of one entry's fan-out, seeing part of it done
    assert ticks_in_first >= 4
    assert any(0 < seen < len(subscribers) for seen in ticks)
    assert all(ids_of(list(s.queue)) == ["1-0", "2-0", "3-0"] for s in subscribers)
    assert ids_of(list(late.queue)) == ["2-0", "3-0"]


# --- under Hypercorn: the chain the fast path walks, and what the client sees --------------------------


def test_the_hypercorn_attribute_chain_the_fast_path_walks_exists() -> None:
    # each link of streams/direct.py's walk, as the installed Hypercorn defines it
    assert "connection" in WSStream._accept.__code__.co_names  # wsproto's Connection, made at accept
    assert {"send", "closed"} <= set(WSStream.__init__.__code__.co_names)
    assert "RawData" in H11Protocol.stream_send.__code__.co_names  # Data passes through as RawData
    assert "writer" in TCPServer.__init__.__code__.co_names
    assert "write" in TCPServer.protocol_send.__code__.co_names
    assert "h11_connection" in H11WSConnection.__init__.__code__.co_names  # the upgraded connection


async def test_live_events_take_the_fast_path_under_hypercorn(backend: Backend,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[bytes] = []
    real_write = LeanSocket.write

    def counting_write(self: LeanSocket, wire: bytes) -> bool:
        taken = real_write(self, wire)
        if taken:
            written.append(wire)
        return taken

    monkeypatch.setattr(LeanSocket, "write", counting_write)
    app = backend.app()
    async with serving(app, backend.settings()) as port:
        market = market_of(app)
        hub: Hub = app.extensions["hub"]
        user = await register(app.test_client(), "investor")
        async with connect(f"ws://127.0.0.1:{port}/ws?token={user.token}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            (subscription,) = hub.subscriptions
            writer = subscription.subscriber.writer
            # the chain resolved to this very socket's transport and the socket went lean
            # (streams/lean.py): a Hypercorn upgrade that moves a link makes this the fallback and fails here
            assert isinstance(writer, LeanSocket)
            assert writer.transport.get_protocol() is writer
            key = market.keys.market_stream()
            for n in range(50):
                await market.redis.xadd(key, {"event": "bulk", "data": json.dumps({"n": n})})
            received = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(50)]
            assert [frame["id"] for frame in received] == await stream_ids(market, key)
            assert [frame["data"]["n"] for frame in received] == list(range(50))
            # every one of them written directly (consecutive entries in one write when read together)
            assert b"".join(written).count(b'"type":"event"') == 50
            # wsproto inside Hypercorn was not confused by bytes it never saw: protocol ping, a client
            # frame and its answer, all still work, and so does the close handshake
            await asyncio.wait_for(await ws.ping(), 5)
            await ws.send('{"type":"ping"}')
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
            await market.redis.xadd(key, {"event": "bulk", "data": "{}"})
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "bulk"
        assert ws.close_code == 1000
        for _ in range(100):
            if not hub.subscriptions:
                break
            await asyncio.sleep(0.02)
        assert not hub.subscriptions


async def test_a_socket_that_negotiated_deflate_takes_the_fallback(backend: Backend,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = backend.app()
    async with serving(app, backend.settings()) as port:
        # the app declines permessage-deflate; accept it here, as Hypercorn alone would
        monkeypatch.setattr(ws_stream, "PerMessageDeflate", wsproto.extensions.PerMessageDeflate)
        market = market_of(app)
        hub: Hub = app.extensions["hub"]
        user = await register(app.test_client(), "investor")
        async with connect(f"ws://127.0.0.1:{port}/ws?token={user.token}", compression="deflate") as ws:
            assert ws.protocol.extensions, "the client should have negotiated permessage-deflate"
            assert json.loads(await ws.recv())["type"] == "hello"
            (subscription,) = hub.subscriptions
            assert subscription.subscriber.writer is None  # compressed frames differ per socket
            key = market.keys.market_stream()
            for n in range(5):
                await market.redis.xadd(key, {"event": "bulk", "data": json.dumps({"n": n})})
            received = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
            assert [frame["data"]["n"] for frame in received] == list(range(5))


async def test_without_hypercorn_there_is_no_fast_path() -> None:
    async def plain_send(message: Any) -> None:
        pass

    assert direct_writer({}) is None  # Quart's test client, or no expose_send
    assert direct_writer({SCOPE_KEY: plain_send}) is None  # another ASGI server


# --- the close frame, the byte bound and the byte pacing (issue 20) -------------------------------------


async def test_the_close_frame_goes_into_a_backed_up_transport_after_the_sends_queued_before_it() -> None:
    writer, stream, connection, transport = fake_writer()
    lock = asyncio.Lock()
    writer.lock = lock
    transport.buffered = 10 * WRITE_BUFFER_BYTES_MAX  # backed up far past the fast path's limit
    await lock.acquire()  # a send of Hypercorn's in drain(): its frame is in the buffer already
    assert await writer.close(4008)  # written at once: a frame boundary, nothing queued for the lock
    assert connection.state is ConnectionState.LOCAL_CLOSING
    assert transport.written == [b"\x88\x02\x0f\xa8"]  # FIN + close, 2 bytes: 4008
    # a pong made before the close and waiting for the lock goes first; the close frame after it
    writer2, _, connection2, transport2 = fake_writer()
    writer2.lock = lock
    pong = connection2.send(Ping(b"x").response())

    async def hypercorns_send() -> None:
        async with lock:
            transport2.write(pong)

    queued = asyncio.create_task(hypercorns_send())
    await asyncio.sleep(0)
    closing = asyncio.create_task(writer2.close(1001))
    await asyncio.sleep(0)
    assert transport2.written == []
    lock.release()
    assert await closing
    await queued
    assert transport2.written[0] == pong and transport2.written[1][:4] == b"\x88\x02\x03\xe9"
    # nothing once the connection is closing or gone
    assert not await writer.close(4008)
    stream.closed = True
    writer3, stream3, _, transport3 = fake_writer()
    stream3.closed = True
    assert not await writer3.close(4008) and transport3.written == []


def test_the_queue_bound_is_in_bytes_too() -> None:
    """A few big frames to a backed-up socket close it at the byte bound, long before the frame bound."""
    writer, _, _, transport = fake_writer()
    subscriber = Subscriber("u1", queue_max=1_000, queue_bytes_max=100_000)
    subscriber.writer = writer
    transport.buffered = WRITE_BUFFER_BYTES_MAX
    big = '{"type":"event","id":"1-0","padding":"' + "x" * 30_000 + '"}'
    for _ in range(3):
        subscriber.push(big)
    assert subscriber.close_code is None and subscriber.queue_bytes == 3 * len(big)
    subscriber.push(big)  # past 100,000 bytes queued, transport backed up
    assert subscriber.close_code == CLOSE_TOO_SLOW and subscriber.queue_bytes == 0
    # a socket that reads fine may pass the byte bound (a whole XREAD arriving during one send)
    reads_fine = Subscriber("u1", queue_max=1_000, queue_bytes_max=100_000)
    reads_fine.writer = writer
    transport.buffered = 0
    for _ in range(14):
        reads_fine.push(big)
    assert reads_fine.close_code is None and reads_fine.queue_bytes == 14 * len(big)  # past 4 x 100,000
    reads_fine.push(big)  # QUEUE_SLACK times the bound reached: too slow however it reads
    assert reads_fine.close_code == CLOSE_TOO_SLOW


async def test_the_pump_keeps_the_queued_byte_count_exact() -> None:
    writer, _, _, transport = fake_writer()
    subscriber = Subscriber("u1", queue_max=100)
    sent: list[str] = []

    async def send(frame: str) -> None:
        sent.append(frame)

    transport.buffered = WRITE_BUFFER_BYTES_MAX
    subscriber.push('{"a":1}')  # before the pump: queued
    pump = asyncio.create_task(subscriber.pump(send, writer))
    await asyncio.sleep(0.01)  # backed up: the ASGI send takes it
    assert sent == ['{"a":1}'] and subscriber.queue_bytes == 0
    subscriber.direct = None
    subscriber.push('{"b":22}')
    subscriber.push('{"c":333}')
    assert subscriber.queue_bytes == 17
    transport.buffered = 0
    await asyncio.sleep(0.01)  # written straight from the queue
    assert subscriber.queue_bytes == 0 and not subscriber.queue
    subscriber.close(1000)
    await pump


def test_a_fan_out_of_big_batches_pauses_by_bytes() -> None:
    feed = Feed("market", "key", (0, 0))
    subscribers = [Subscriber("u", queue_max=10) for _ in range(64)]
    feed.subscribers.update(subscribers)
    big = [(f"{n}-0", {"event": "bulk", "data": json.dumps({"padding": "x" * 60_000})}) for n in range(1, 3)]
    slices = list(feed.delivery(big))  # the two entries in one batch (one write) of about 120 KB
    wire_bytes = slices[0][1] // slices[0][0]
    assert 120_000 < wire_bytes < 121_000
    per_slice = FANOUT_SLICE_BYTES // wire_bytes  # 8 sockets, not FANOUT_SLICE (256)
    assert [served for served, _ in slices] == [per_slice] * (64 // per_slice)
    small = list(feed.delivery(entries("3-0")))
    assert small == [(64, 64 * len(text_frame(subscribers[0].queue[-1])))]


def test_a_fan_out_busy_for_long_rests_so_requests_keep_a_share_of_the_loop() -> None:
    hub = Hub.__new__(Hub)
    hub._busy_since = hub._paused_at = 0.0
    hub.requests_in_flight = 0
    slice_seconds = 0.001  # the loop's clock, one slice each millisecond (a loaded machine cannot stretch it)
    clock = (100 + n * slice_seconds for n in itertools.count())
    for _ in range(round(3 * FANOUT_BUSY_SECONDS / slice_seconds)):
        assert hub._rest_seconds(next(clock)) == 0  # no request waiting: nothing to rest for
    hub.requests_in_flight = 1
    for _ in range(round(3 * FANOUT_REST_SECONDS / slice_seconds)):  # the reader idle: no slice
        next(clock)
    rests = [hub._rest_seconds(next(clock))]  # a new busy spell: a yield only
    for _ in range(round(3 * FANOUT_BUSY_SECONDS / slice_seconds)):
        now = next(clock)
        rests.append(hub._rest_seconds(now))  # slice after slice, without a real pause
        for _ in range(round(rests[-1] / slice_seconds)):  # a rest takes its time on the clock
            now = next(clock)
    assert rests[0] == 0 and FANOUT_REST_SECONDS in rests
    busy_slices = rests.index(FANOUT_REST_SECONDS)  # busy on end for FANOUT_BUSY_SECONDS, then the rest
    assert FANOUT_BUSY_SECONDS <= busy_slices * slice_seconds < FANOUT_BUSY_SECONDS + 2 * slice_seconds
    resting = [n for n, rest in enumerate(rests) if rest]  # one rest per busy spell, not one per slice
    assert len(resting) == 2 and resting[1] - resting[0] == busy_slices
    assert set(rests) == {0, FANOUT_REST_SECONDS}
