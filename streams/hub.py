"""The per-process fan-out: one reader for all of this process's sockets, each event encoded once.

A *feed* is one stream this process reads: the market stream, or the stream of a user with at least
one socket here. Each feed remembers the last entry it delivered (its position). A socket that opens
asks for its streams from some id (``since``, or the stream's end when it has none):

- below the feed's position: it joins the feed now and replays (start, position] with XRANGE before
  its queue of live events is sent, so nothing is missed and nothing is sent twice;
- above it (the reader has not caught up yet): it joins with a floor and skips live events up to it.

Everything between deciding the position and joining the feed is synchronous, so no event can slip
between the replay and the live part.

Live delivery: each entry is encoded and framed once; its bytes go straight to the transport of every
socket on the fast path (streams/direct.py), and to the bounded queue of the others (a transport
backed up, something still queued, a server without the fast path). The reader pauses after every
FANOUT_SLICE sockets so that HTTP requests are not held behind a large fan-out.

Sockets of another protocol (Socket.IO, streams/socketio) are subscribers like the others, with a
``framer`` that builds the batch in their frames, once per batch for all of them (``Feed._send_framed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from redis.asyncio import Redis

from finance import metrics
from finance.connection import UNAVAILABLE_ERRORS
from finance.market import Market
from finance.stream_ids import Order, id_of, order_of
from streams.direct import WRITE_BATCH_BYTES_MAX, text_frame
from streams.envelope import entry_frame
from streams.reader import Reader
from streams.shedding import Shedder
from streams.source import Entry, StreamState, read_page, stream_states
from streams.subscriber import CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED, Subscriber

log = logging.getLogger(__name__)

REPLAY_PAGE: Final = 500
USER: Final = "user"
MARKET: Final = "market"
# How many sockets, and how many bytes of frames handed to them, the reader serves before it lets other
# tasks (HTTP requests above all) run: a burst's 64 KB writes cost far more than one small frame each.
FANOUT_SLICE: Final = 256
FANOUT_SLICE_BYTES: Final = 1024 * 1024
# after this long of fan-out with only yields between slices, a real rest of FANOUT_REST_SECONDS
FANOUT_BUSY_SECONDS: Final = 0.010
FANOUT_REST_SECONDS: Final = 0.010
# (position, frame, frame bytes, the entry) of each entry in a batch
Batch = list[tuple[Order, str, bytes, Entry]]


class Framer(Protocol):
    """Another protocol's frames for the same entries (streams/socketio): a subscriber whose ``framer`` is
    set gets ``frame``'s batch instead of the /ws frames, built once per batch for all its sockets."""

    def frame(self, stream: str, batch: Batch) -> tuple[Batch, bytes]: ...

    def delivered(self, subscriber: Subscriber, stream: str, batch: Batch) -> None:
        """Told after each batch of a user feed sent to ``subscriber`` (not the market's: that is all of them)."""


class HubClosed(Exception):
    """The process is shutting down and takes no new sockets."""


class ReplayGap(Exception):
    """Trimming overtook a replay: the socket must reconnect (and will be told ``recovered: false``)."""


class Feed:
    __slots__ = ("_framed", "floors", "key", "name", "position", "subscribers")

    def __init__(self, name: str, key: str, position: Order) -> None:
        self.name = name  # "user" or "market": the frames' "stream"
        self.key = key
        self.position = position
        self.subscribers: set[Subscriber] = set()
        # subscribers that asked to start beyond the position: skip live events up to their floor
        self.floors: dict[Subscriber, Order] = {}
        self._framed: dict[Framer, tuple[Batch, bytes]] = {}  # the current batch in other protocols' frames

    def deliver(self, entries: list[Entry]) -> None:
        """Delivers ``entries`` to every subscriber, all at once."""
        for _ in self.delivery(entries):
            pass

    def delivery(self, entries: list[Entry], slice_size: int = FANOUT_SLICE) -> Iterator[tuple[int, int]]:
        """Delivers ``entries``, pausing (yielding how many sockets it served and the bytes it handed them)
        after every ``slice_size`` sockets or FANOUT_SLICE_BYTES, so that the caller can let other tasks
        run between slices.

        Each entry is encoded and framed once. Consecutive entries (up to WRITE_BATCH_BYTES_MAX of frames)
        go out as one batch: a socket on the fast path gets the batch's frames in one write, which is
        what keeps a burst of events (an XREAD that returns many) from costing a write per socket per
        event. Who gets a batch is fixed in the same step as the position moves past it: a socket that
        joins during a pause replays up to the new position and is not in the list, so it gets each
        entry exactly once either way."""
        name = self.name
        batch: Batch = []
        batch_bytes = 0
        for entry_id, fields in entries:
            order = order_of(entry_id)
            if order <= self.position or (batch and order <= batch[-1][0]):
                continue  # read by an XREAD that started before this feed was re-created further on
            frame = entry_frame(name, entry_id, fields)
            wire = text_frame(frame)
            batch.append((order, frame, wire, (entry_id, fields)))
            batch_bytes += len(wire)
            if batch_bytes >= WRITE_BATCH_BYTES_MAX:
                yield from self._deliver_batch(batch, slice_size)
                batch, batch_bytes = [], 0
        if batch:
            yield from self._deliver_batch(batch, slice_size)

    def _deliver_batch(self, batch: Batch, slice_size: int) -> Iterator[tuple[int, int]]:
        self.position = batch[-1][0]
        self._framed.clear()
        subscribers = list(self.subscribers)
        wire = batch[0][2] if len(batch) == 1 else b"".join([item[2] for item in batch])
        slice_size = max(1, min(slice_size, FANOUT_SLICE_BYTES // len(wire)))
        for start in range(0, len(subscribers), slice_size):
            served = subscribers[start:start + slice_size] if len(subscribers) > slice_size else subscribers
            self._send(batch, wire, served)
            yield len(served), len(served) * len(wire)
        metrics.fanned_out(self.name, [item[0][0] for item in batch], len(subscribers))

    def _send(self, batch: Batch, wire: bytes, subscribers: list[Subscriber]) -> None:
        floors = self.floors
        for subscriber in subscribers:
            if subscriber.framer is not None:
                self._send_framed(subscriber, batch)
            elif floors and subscriber in floors:
                self._send_above_floor(subscriber, batch)
            else:
                _send_to(subscriber, batch, wire)

    def _send_framed(self, subscriber: Subscriber, batch: Batch) -> None:
        """A subscriber of another protocol: the batch in its frames, built once for all its sockets."""
        framer: Framer = subscriber.framer
        framed = self._framed.get(framer)
        if framed is None:
            framed = self._framed[framer] = framer.frame(self.name, batch)
        if self.floors and subscriber in self.floors:
            self._send_above_floor(subscriber, framed[0])
        else:
            _send_to(subscriber, framed[0], framed[1])
        if self.name == USER:  # what a socket was sent of its own stream (a few events; recovery needs it)
            framer.delivered(subscriber, self.name, framed[0])

    def _send_above_floor(self, subscriber: Subscriber, batch: Batch) -> None:
        floor = self.floors[subscriber]
        if batch[-1][0] > floor:
            del self.floors[subscriber]  # caught up: from the next batch on, everything
        above = [item for item in batch if item[0] > floor]
        if above:
            _send_to(subscriber, above, b"".join([item[2] for item in above]))


def _send_to(subscriber: Subscriber, batch: Batch, wire: bytes) -> None:
    """``wire`` (the batch's frames) straight to the socket's transport, or each frame to its queue."""
    direct = subscriber.direct
    if direct is None or not direct.write(wire):
        for item in batch:
            subscriber.push(item[1])


@dataclass
class Replay:
    stream: str
    key: str
    after: Order
    upto: Order
    removed_at_open: int  # entries trimmed away when the socket opened; more means trimming overtook it


@dataclass(eq=False)
class Subscription:
    """One socket's subscription: its subscriber, its feeds, what to replay, and the hello's ``recovered``."""

    subscriber: Subscriber
    recovered: bool
    session_key: str = ""  # the Redis key of the socket's token: once it is gone, so is the socket
    feeds: list[Feed] = field(default_factory=list)
    replays: list[Replay] = field(default_factory=list)
    # stream name -> where it starts for this socket: for /ws's hello (dropped after it), and kept for
    # Socket.IO's recovery
    starts: dict[str, Order] | None = None


class Hub:
    def __init__(self, market: Market, reader_redis: Redis, queue_max: int,
                 session_check_seconds: float = 0.0) -> None:
        self.market = market
        self.session_check_seconds = session_check_seconds
        self._session_checker: asyncio.Task[None] | None = None
        self.redis = market.redis
        self.queue_max = queue_max
        self.feeds: dict[str, Feed] = {}  # stream key -> feed
        self.subscriptions: set[Subscription] = set()
        self.version = 0
        self.closing = False
        self._served_since_pause = 0
        self._bytes_since_pause = 0
        self._busy_since = self._paused_at = 0.0
        self.requests_in_flight = 0  # HTTP requests this process is serving (streams/websocket.py counts)
        self.shedder = Shedder()
        self.reader = Reader(reader_redis, market.redis, self.positions, self.deliver_paced)

    # --- the reader's side -------------------------------------------------------------------------

    def positions(self) -> tuple[int, dict[str, str]]:
        return self.version, {key: id_of(feed.position) for key, feed in self.feeds.items()}

    def _feed_for(self, key: str, read_after: str) -> Feed | None:
        feed = self.feeds.get(key)
        if feed is None:  # every socket of that stream left while the XREAD was in flight
            return None
        if order_of(read_after) > feed.position:
            # the feed was dropped and made again further back while this XREAD was in flight: what
            # lies between its position and ``read_after`` is not in this batch, so delivering it would
            # leave a gap. The next XREAD reads on from the feed's own position.
            return None
        return feed

    def deliver(self, key: str, read_after: str, entries: list[Entry]) -> None:
        """Delivers what an XREAD read after ``read_after`` from ``key``, all at once."""
        feed = self._feed_for(key, read_after)
        if feed is not None:
            feed.deliver(entries)

    async def deliver_paced(self, key: str, read_after: str, entries: list[Entry]) -> None:
        """``deliver``, pausing after every FANOUT_SLICE sockets or FANOUT_SLICE_BYTES served (across
        feeds and XREADs), so that a fan-out to thousands of sockets, or a burst of entries, never holds
        the event loop for longer than one slice: HTTP requests are served in between."""
        feed = self._feed_for(key, read_after)
        if feed is None:
            return
        self.shedder.check(entries, self.subscriptions)  # too far behind: shed sockets (streams/shedding.py)
        for served, handed in feed.delivery(entries):
            self._served_since_pause += served
            self._bytes_since_pause += handed
            if self._served_since_pause >= FANOUT_SLICE or self._bytes_since_pause >= FANOUT_SLICE_BYTES:
                self._served_since_pause = self._bytes_since_pause = 0
                await asyncio.sleep(self._rest_seconds(asyncio.get_running_loop().time()))

    def _rest_seconds(self, now: float) -> float:
        """How long the pause after a slice ending at ``now`` (the loop's clock) is: none (a yield),
        unless the fan-out has kept the loop busy for FANOUT_BUSY_SECONDS on end while HTTP requests are
        in flight; then FANOUT_REST_SECONDS, so that under a flood of events the money path keeps half
        of the loop whatever the fan-out wants. Events wait instead (and past the shedding bound,
        sockets are shed: streams/shedding.py)."""
        if now - self._paused_at > FANOUT_REST_SECONDS * 2:  # the reader had been idle: a new busy spell
            self._busy_since = now
        self._paused_at = now
        if now - self._busy_since < FANOUT_BUSY_SECONDS or self.requests_in_flight <= 0:
            return 0  # (with no request waiting, a rest would only slow the events down)
        self._busy_since = now + FANOUT_REST_SECONDS
        return FANOUT_REST_SECONDS

    # --- the sockets' side -------------------------------------------------------------------------

    def start(self) -> None:
        self.reader.start()
        if self.session_check_seconds > 0:
            self._session_checker = asyncio.create_task(self._check_sessions_forever(), name="ws-sessions")

    async def check_sessions(self) -> int:
        """Closes with 4401 every socket whose token no longer exists (logged out, expired); returns
        how many. One pipelined EXISTS per distinct token of this process's sockets."""
        subscriptions = [subscription for subscription in self.subscriptions if subscription.session_key]
        if not subscriptions:
            return 0
        keys = sorted({subscription.session_key for subscription in subscriptions})
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            found = await pipe.execute()
        gone = {key for key, count in zip(keys, found, strict=True) if not count}
        closed = 0
        for subscription in subscriptions:
            if subscription.session_key in gone:
                subscription.subscriber.close(CLOSE_UNAUTHORIZED)
                closed += 1
        return closed

    async def _check_sessions_forever(self) -> None:
        while True:
            await asyncio.sleep(self.session_check_seconds)
            try:
                await self.check_sessions()
            except UNAVAILABLE_ERRORS as error:  # the reader reports outages; try again next round
                log.debug("session check skipped: %s", error)
                metrics.redis_error("session_check")

    async def close_sockets(self, drain_seconds: float = 1.0) -> None:
        """Closes every socket with 1001 and takes no new ones; waits a moment for them to go."""
        self.closing = True
        for subscription in list(self.subscriptions):
            subscription.subscriber.close(CLOSE_GOING_AWAY)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_seconds):
                while self.subscriptions:  # noqa: ASYNC110 - the handlers remove themselves as they finish
                    await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Closes every socket with 1001 and stops the reader."""
        if self._session_checker is not None:
            self._session_checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._session_checker
            self._session_checker = None
        await self.close_sockets()
        await self.reader.stop()

    async def subscribe(self, user_id: str, since: Order | None, market_since: Order | None,
                   session_key: str = "", subscriber: Subscriber | None = None) -> Subscription:
        """Subscribes a socket of ``user_id`` to its user stream and the market stream.

        A stream without a ``since`` starts at its current end, fixed here, before the hello is sent.
        A ``since`` whose entries may be gone (``recovered: false``) also starts at the end: the client
        reloads over REST instead. ``subscriber``: one of another protocol's (streams/socketio)."""
        if self.closing:
            raise HubClosed()
        keys = self.market.keys
        user_key, market_key = keys.user_stream(user_id), keys.market_stream()
        user_state, market_state = await stream_states(self.redis, [user_key, market_key])
        if self.closing:
            raise HubClosed()
        subscription = Subscription(subscriber or Subscriber(user_id, self.queue_max), recovered=True,
                                    session_key=session_key, starts={})
        for name, key, state, since_asked in (
            (USER, user_key, user_state, since),
            (MARKET, market_key, market_state, market_since),
        ):
            self._join(subscription, name, key, state, since_asked)
        self.subscriptions.add(subscription)
        return subscription

    def _join(self, subscription: Subscription, name: str, key: str, state: StreamState, since: Order | None) -> None:
        start = state.last
        if since is not None:
            if state.lost_after(since):
                subscription.recovered = False
            else:
                start = since
        if subscription.starts is not None:
            subscription.starts[name] = start
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = Feed(name, key, state.last)
            self.version += 1
            self.reader.wake(self.version)
        subscriber = subscription.subscriber
        if start < feed.position:
            subscription.replays.append(Replay(name, key, start, feed.position, state.removed))
        elif start > feed.position:
            feed.floors[subscriber] = start
        feed.subscribers.add(subscriber)
        subscription.feeds.append(feed)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Unsubscribes a socket; a feed nobody needs any more is no longer read."""
        self.subscriptions.discard(subscription)
        subscriber = subscription.subscriber
        subscriber.direct = None
        for feed in subscription.feeds:
            feed.subscribers.discard(subscriber)
            feed.floors.pop(subscriber, None)
            if not feed.subscribers and self.feeds.get(feed.key) is feed:
                del self.feeds[feed.key]
                self.version += 1
        subscription.feeds.clear()

    async def replay(self, subscription: Subscription) -> AsyncIterator[str]:
        """The frames a socket missed, page by page, oldest first, stream by stream."""
        async for stream, entry_id, fields in self.replay_entries(subscription):
            yield entry_frame(stream, entry_id, fields)

    async def replay_entries(self, subscription: Subscription) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
        """The entries a socket missed, as (stream name, entry id, fields), page by page, oldest first,
        stream by stream: /ws frames them in ``replay``, another protocol in its own frames."""
        for replay in subscription.replays:
            cursor = replay.after
            while cursor < replay.upto and subscription.subscriber.close_code is None:
                entries = await self._replay_page(replay, cursor)
                if not entries:
                    break
                for entry_id, fields in entries:
                    yield replay.stream, entry_id, fields
                cursor = order_of(entries[-1][0])
        subscription.replays.clear()

    async def _replay_page(self, replay: Replay, cursor: Order) -> list[Entry]:
        """The next page of a replay after ``cursor``; ReplayGap when trimming may have overtaken it."""
        state, entries = await read_page(self.redis, replay.key, id_of(cursor), id_of(replay.upto), REPLAY_PAGE)
        if state.removed > replay.removed_at_open and state.first is not None and cursor < state.first:
            # entries after the cursor may have been trimmed before this page was read
            raise ReplayGap()
        return entries
