"""What the WebSocket side needs from the Hypercorn server: heartbeats, and closing sockets on shutdown.

Heartbeats are WebSocket protocol pings, sent by Hypercorn every ``websocket_ping_interval_seconds``;
browsers and client libraries answer them with pongs on their own. A connection from which nothing,
not even a pong, has arrived for the read timeout is closed by Hypercorn: that reaps dead peers (the
hub drops their subscriptions as their handlers end). The read timeout never undercuts the HTTP
keep-alive timeout, so idle HTTP connections keep the lifetime the server gives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.protocol import ws_stream
from quart import Quart
from wsproto.extensions import PerMessageDeflate

from finance.settings import Settings
from streams.hub import Hub

log = logging.getLogger(__name__)
_tweaked = False
# how long a worker whose master died spends closing its sockets before it exits
ORPHAN_CLOSE_SECONDS = 1.0
# of SHUTDOWN_TIMEOUT_SECONDS: what the lifespan's stop may take after Hypercorn's graceful wait, and how
# long before the timeout a process still stopping exits by itself (its master kills it at the timeout)
LIFESPAN_STOP_SECONDS = 1.5
EXIT_MARGIN_SECONDS = 0.5


class _DeclinedDeflate(PerMessageDeflate):
    """permessage-deflate, offered by every browser, declined: it keeps a zlib compressor and
    decompressor per socket (about 95 KB of the 137 KB an idle browser socket held, loadtest bench c)
    and compresses every frame once per socket, while our frames are a few hundred bytes of JSON."""

    def accept(self, offer: str) -> bool:
        return False


def apply_process_tweaks() -> None:
    """The process-wide settings a server process needs, applied once, when it starts serving:
    permessage-deflate declined, and the garbage collector tuned for fan-out."""
    global _tweaked  # noqa: PLW0603 - process-wide settings, applied once
    if _tweaked:
        return
    _tweaked = True
    _decline_permessage_deflate()
    _tune_garbage_collector()


def _decline_permessage_deflate() -> None:
    """Hypercorn offers permessage-deflate on every WebSocket and has no setting for it; its handshake
    looks the extension class up by name at each accept, so this is where we say no."""
    setattr(ws_stream, "PerMessageDeflate", _DeclinedDeflate)  # noqa: B010 - patching a module global


def _tune_garbage_collector() -> None:
    """A fan-out to thousands of sockets allocates a few objects per socket per event (futures, task
    steps), which triggers collections; the full ones walked every object of the process and were most
    of the latency tail (p99 232 -> 102 ms at 1,000 sockets, loadtest bench b). Collect less often, and
    leave the start-up objects (modules, app) out of it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def configure_hypercorn(config: Any, settings: Settings) -> None:
    """Sets ``websocket_ping_interval`` and ``read_timeout`` on a hypercorn ``Config``."""
    interval = settings.websocket_ping_interval_seconds
    if interval <= 0:
        return
    config.websocket_ping_interval = interval
    config.read_timeout = max(2 * interval + 1, int(config.keep_alive_timeout))


def configure_shutdown(config: Any, settings: Settings) -> None:
    """Hypercorn's graceful wait for connections, inside SHUTDOWN_TIMEOUT_SECONDS with room for the
    lifespan's own stop (the hub, the reader, Redis) after it."""
    config.graceful_timeout = max(0.5, settings.shutdown_timeout_seconds - LIFESPAN_STOP_SECONDS)


def shutdown_trigger(app: Quart) -> Callable[[], Awaitable[None]]:
    """A ``shutdown_trigger`` for Hypercorn (``serve``, and each worker of streams/supervisor.py): on SIGINT
    or SIGTERM it returns at once, so Hypercorn stops accepting, closes idle connections and waits for
    requests in flight; meanwhile every socket is closed with 1001 (Going Away: clients resume elsewhere
    with ``since``). Without it, Hypercorn would hold open sockets through its graceful timeout and then
    drop them without a close frame. The process exits by SHUTDOWN_TIMEOUT_SECONDS whatever happens."""

    async def trigger() -> None:
        signalled = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, signalled.set)
        await signalled.wait()
        market = app.extensions.get("market")
        settings = market.settings if market is not None else Settings()
        _exit_at_the_latest(settings.shutdown_timeout_seconds - EXIT_MARGIN_SECONDS)
        log.info("stopping: no new connections, sockets closed with 1001, requests in flight finished")
        hub: Hub | None = app.extensions.get("hub")
        if hub is not None:
            app.extensions["closing_sockets"] = loop.create_task(hub.close_sockets(), name="close-sockets")

    return trigger


def _exit_at_the_latest(seconds: float) -> None:
    """A thread, so that it fires even when the event loop is stuck."""

    def exit_now() -> None:
        log.warning("still stopping after %.1f s: exiting now", seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(max(0.1, seconds), exit_now)
    timer.daemon = True
    timer.start()


def exit_with_master(app: Quart) -> None:
    """In a Hypercorn worker (WORKERS > 1): exit as soon as the master process is gone, so that no
    orphan keeps serving the port. Hypercorn's master stops its workers when it is signalled, but a
    master killed outright (SIGKILL, OOM killer) leaves them running. The parent's sentinel is a pipe
    that becomes readable when the parent dies, so the event loop is told at once, without polling.
    Sockets are closed with 1001 (clients resume with ``since``); then the process exits."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a spawned worker: WORKERS=1, tests, or another server
        return
    loop = asyncio.get_running_loop()

    def master_gone() -> None:
        loop.remove_reader(parent.sentinel)
        log.warning("the master process %s is gone: closing sockets and exiting", parent.pid)
        app.extensions["orphan_exit"] = loop.create_task(_exit_orphan(app))

    loop.add_reader(parent.sentinel, master_gone)


async def _exit_orphan(app: Quart) -> None:
    hub: Hub | None = app.extensions.get("hub")
    if hub is not None:
        with contextlib.suppress(Exception):  # exiting is the point: nothing may stop it
            await hub.close_sockets(drain_seconds=ORPHAN_CLOSE_SECONDS)
    logging.shutdown()
    os._exit(0)
