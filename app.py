"""The server: ``create_app()`` for Quart, and ``python app.py`` to serve it with Hypercorn.

Environment: REDIS_URL (unset: the embedded in-process fakeredis), HOST, PORT, WORKERS, MARKET,
USER_STREAM_LENGTH_MAX, MARKET_STREAM_LENGTH_MAX, AGING_INTERVAL_SECONDS, ... (finance/settings.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from quart import Quart
from quart_schema import Info, QuartSchema

from finance import api, logs
from finance.api import observability
from finance.api.cors import register_cors
from finance.api.drain import drain_unread_bodies
from finance.api.openapi import ContractProvider
from finance.clock import Clock
from finance.connection import connect
from finance.market import Market
from finance.marketplace import aging
from finance.settings import Settings
from streams import socketio as streams_socketio
from streams import start_hub, stop_hub
from streams import websocket as streams_websocket
from streams.asgi import expose_send
from streams.hub import Hub
from streams.server import (
    apply_process_tweaks,
    configure_hypercorn,
    configure_shutdown,
    exit_with_master,
    shutdown_trigger,
)

log = logging.getLogger("app")


def create_app(settings: Settings | None = None, *, redis_server: Any = None, clock: Clock | None = None) -> Quart:
    """The app. ``redis_server`` is a fakeredis server for tests; ``clock`` pins time in tests."""
    settings = settings or Settings.from_env()
    app = Quart(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.body_size_max_bytes
    app.config["QUART_SCHEMA_CONVERSION_PREFERENCE"] = "msgspec"
    QuartSchema(
        app,
        info=Info(title="Invoice financing", version="0.1.0",
                  description="Amounts are integers in paise (INR minor units). Times are ISO 8601 UTC."),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        openapi_provider_class=ContractProvider,
    )
    observability.install(app, settings)
    api.register(app)
    app.register_blueprint(streams_websocket.blueprint)
    streams_socketio.install(app)
    register_cors(app, settings.cors_origins)
    expose_send(app)
    drain_unread_bodies(app)

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        """Start: the process tweaks, the market on its Redis, the hub and its reader, the master watch,
        the aging task. Stop, in reverse: the aging task, the hub (sockets closed with 1001), Socket.IO's
        heartbeat and its sockets' recovery records, Redis."""
        apply_process_tweaks()
        market = Market.create(connect(settings, server=redis_server), settings, clock)
        app.extensions["market"] = market
        hub: Hub | None = None
        aging_task = None
        try:
            hub = app.extensions["hub"] = start_hub(market, settings, redis_server)
            app.extensions["socketio"] = streams_socketio.start_socketio(hub)
            exit_with_master(app)
            if settings.aging_interval_seconds > 0:
                aging_task = asyncio.create_task(aging.run_forever(market), name="aging")
            yield
        finally:
            if aging_task is not None:
                aging_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await aging_task
            if hub is not None:
                await stop_hub(hub)
            if "socketio" in app.extensions:  # after the hub closed its sockets: their recovery records
                await streams_socketio.stop_socketio(app.extensions.pop("socketio"))
            await market.redis.aclose()

    return app


def _without_password(url: str) -> str:
    """A Redis URL fit for a log: its password (a credential, like a token) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")))


def main() -> None:
    from hypercorn.config import Config

    settings = Settings.from_env()
    logs.configure(settings.log_format)
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = None
    if settings.log_format == logs.JSON:  # Hypercorn's own lines through our handler too
        config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    configure_hypercorn(config, settings)
    configure_shutdown(config, settings)
    # JSON logs: every line of output is a JSON object, these too
    say = log.info if settings.log_format == logs.JSON else partial(print, flush=True)
    if settings.embedded:
        say("REDIS_URL is not set: using the embedded in-process fakeredis with Lua, one worker; "
            "nothing is persisted, all data is lost at exit.")
    else:
        say(f"Using Redis at {_without_password(settings.redis_url)} with {settings.workers} worker(s).")
    say(f"Serving on http://{settings.host}:{settings.port} (API docs at /docs)")
    if settings.workers > 1:
        from finance import metrics
        from streams.supervisor import serve_workers

        metrics_dir, made_here = metrics.prepare_multiprocess_dir()  # before the workers start
        config.application_path = "app:create_app()"
        config.workers = settings.workers
        try:
            exit_code = serve_workers(config, settings)
        finally:
            if made_here:
                shutil.rmtree(metrics_dir, ignore_errors=True)
        if exit_code:
            raise SystemExit(exit_code)
    else:
        from hypercorn.asyncio import serve

        app = create_app(settings)
        asyncio.run(serve(app, config, shutdown_trigger=shutdown_trigger(app)))


if __name__ == "__main__":
    main()
