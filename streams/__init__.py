"""Real-time delivery: Redis Streams -> one reader per process -> a fan-out hub -> WebSocket routes.

    envelope.py    stream ids and the protocol's frames, each event encoded once
    source.py      XINFO/XRANGE reads a socket makes while it connects (state, replay pages)
    reader.py      the process's one blocking XREAD loop, on its own Redis connection
    subscriber.py  a socket's bounded queue and the loop that sends it
    hub.py         feeds, subscriptions, the replay->live handover
    websocket.py   the ``GET /ws`` route
    origin.py      the Origin check of socket handshakes (no cross-site WebSocket hijacking)
    socketio/      Socket.IO v4 at ``/socket.io/`` over the same hub and readers

``start_hub``/``stop_hub`` are called from the app's lifespan (``while_serving`` in app.py).
"""

from __future__ import annotations

from typing import Any

from finance.connection import connect
from finance.market import Market
from finance.settings import Settings
from streams.hub import Hub


def start_hub(market: Market, settings: Settings, redis_server: Any = None) -> Hub:
    """The process's hub, with its reader on a connection of its own, running."""
    hub = Hub(market, connect(settings, server=redis_server, blocking_reads=True), settings.websocket_queue_max,
              settings.websocket_session_check_seconds)
    hub.start()
    return hub


async def stop_hub(hub: Hub) -> None:
    await hub.stop()
