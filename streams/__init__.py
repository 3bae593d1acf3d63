"""Real-time delivery: Redis Streams -> one reader per process -> a fan-out hub -> WebSocket routes.

    envelope.py    stream ids and the protocol's frames, each event encoded once
    source.py      XINFO/XRANGE reads a socket makes while it connects (state, replay pages)
    reader.py      the process's one blocking XREAD loop, on its own Redis connection
    subscriber.py  a socket's bounded queue and the loop that sends it
    hub.py         feeds, subscriptions, the replay->live handover
    shedding.py    under overload: sockets shed (1013) rather than a reader ever further behind
    counts.py      what the fan-out closed or dropped on purpose, counted
    websocket.py   the ``GET /ws`` route
    lean.py        idle sockets at a few KB: after hello and replay, one small protocol object each
    client_frames.py  the answers to a client's frames
    origin.py      the Origin check of socket handshakes (no cross-site WebSocket hijacking)
    socketio/      Socket.IO v4 at ``/socket.io/`` over the same hub and readers

``start_hub``/``stop_hub`` are called from the app's lifespan (``while_serving`` in app.py).
"""

from __future__ import annotations

import logging
from typing import Any

from finance.connection import connect
from finance.market import Market
from finance.settings import Settings
from streams.counts import COUNTS
from streams.hub import Hub
from streams.lean import stop_heartbeats

log = logging.getLogger(__name__)


def start_hub(market: Market, settings: Settings, redis_server: Any = None) -> Hub:
    """The process's hub, with its reader on a connection of its own, running."""
    reader_redis = connect(settings, server=redis_server, blocking_reads=True)
    hub = Hub(market, reader_redis, settings.websocket_queue_max, settings.websocket_session_check_seconds)
    if settings.redis_cluster:
        # CLIENT UNBLOCK must reach the node the reader's XREAD blocks on, which only its own client knows
        hub.reader.control = reader_redis
    hub.start()
    return hub


async def stop_hub(hub: Hub) -> None:
    await hub.stop()
    await stop_heartbeats(hub)
    log.info("websocket delivery: %s", COUNTS.as_dict())
