"""Serving with WORKERS > 1: a small master over Hypercorn's asyncio worker, for a graceful stop.

Hypercorn's own master (hypercorn.run) asks its workers to stop through an event they poll, and a
worker learns of it only as Hypercorn stops serving: open sockets wait out the graceful timeout and
are then dropped (clients saw 1011 or 1006, not 1001), and when one worker exits first the master
terminates the others mid-request. Here the master forwards SIGTERM/SIGINT to every worker, and each
worker stops as a single process does (``shutdown_trigger`` in streams/server.py): no new connections,
sockets closed with 1001, requests in flight finished. The master waits for them up to
SHUTDOWN_TIMEOUT_SECONDS, then kills what is left, so no worker outlives it.

A worker that dies while the server runs is started again, unless it died within
``CRASH_WINDOW_SECONDS`` of its start (a broken configuration would only loop): then the server stops.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any, Final, cast

from finance import logs, metrics
from finance.settings import Settings

log = logging.getLogger(__name__)

CRASH_WINDOW_SECONDS: Final = 5.0
POLL_SECONDS: Final = 0.2


def serve_workers(config: Any, settings: Settings) -> int:
    """Runs ``settings.workers`` Hypercorn workers of ``config.application_path`` on shared sockets until
    SIGTERM/SIGINT; returns the exit code."""
    context = multiprocessing.get_context("spawn")
    sockets = config.create_sockets()
    workers: dict[int, tuple[BaseProcess, float]] = {}  # pid -> (process, started at)
    stop_at: list[float] = []  # when the stop began (empty while serving)
    exit_code = 0

    def start_worker() -> None:
        process = context.Process(target=run_worker, kwargs={"config": config, "sockets": sockets},
                                  name="invoice-finance-worker")
        process.start()
        assert process.pid is not None
        workers[process.pid] = (process, time.monotonic())

    def stop(signal_number: int, frame: object) -> None:
        if not stop_at:
            stop_at.append(time.monotonic())
            log.info("signal %s: stopping %d worker(s), at most %.0f s", signal_number, len(workers),
                     settings.shutdown_timeout_seconds)
        for pid in list(workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(settings.workers):
            start_worker()
        while workers:
            if stop_at and time.monotonic() - stop_at[0] >= settings.shutdown_timeout_seconds:
                _kill_the_rest(workers)
                exit_code = exit_code or 1
            wait([process.sentinel for process, _ in workers.values()], timeout=POLL_SECONDS)
            for pid, (process, started) in list(workers.items()):
                if process.exitcode is None:
                    continue
                process.join()
                del workers[pid]
                metrics.process_gone(pid)
                if stop_at:
                    continue
                if time.monotonic() - started < CRASH_WINDOW_SECONDS:
                    log.error("worker %s exited with %s right after it started: stopping", pid, process.exitcode)
                    exit_code = process.exitcode or 1
                    stop(signal.SIGTERM, None)
                else:
                    log.warning("worker %s exited with %s: starting another", pid, process.exitcode)
                    start_worker()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
            sock.close()
    return exit_code


def _kill_the_rest(workers: dict[int, tuple[BaseProcess, float]]) -> None:
    for pid in workers:
        log.warning("worker %s still running at the shutdown timeout: killing it", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_worker(config: Any, sockets: Any) -> None:
    """One worker (a spawned process): the app, served by Hypercorn on the master's sockets, until a
    SIGTERM/SIGINT (from the master, or the terminal's process group) starts its graceful stop."""
    import asyncio

    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import load_application

    from streams.server import shutdown_trigger

    settings = Settings.from_env()
    logs.configure(settings.log_format)
    wrapper = load_application(config.application_path, config.wsgi_max_body_size)
    quart_app = cast(Any, wrapper).app  # hypercorn's ASGIWrapper around our Quart app
    asyncio.run(worker_serve(wrapper, config, sockets=sockets, shutdown_trigger=shutdown_trigger(quart_app)))
