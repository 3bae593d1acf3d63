"""CORS for browsers on other origins (CORS_ORIGINS), with quart-cors.

Every HTTP route answers preflights and carries the headers for an allowed origin; an origin that is not
listed gets none (the browser then refuses to hand the response to the page). The app's own origin
needs no CORS. WebSocket routes are exempt here: browsers apply no CORS to WebSockets, so /ws and
/socket.io/ check the Origin themselves (streams/origin.py) and refuse with 403.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from quart import Quart
from quart_cors import cors, cors_exempt

# the request headers the API reads, and the response headers a page may need to see
ALLOW_HEADERS: Final = ("Authorization", "Content-Type", "Idempotency-Key")
EXPOSE_HEADERS: Final = ("Retry-After",)
ALLOW_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
PREFLIGHT_CACHE: Final = timedelta(minutes=10)


def register_cors(app: Quart, origins: tuple[str, ...]) -> None:
    """CORS headers for ``origins`` (none listed: no cross-origin access at all). Call it after every
    blueprint is registered."""
    cors(
        app,
        allow_origin=list(origins),
        allow_headers=list(ALLOW_HEADERS),
        allow_methods=list(ALLOW_METHODS),
        expose_headers=list(EXPOSE_HEADERS),
        max_age=PREFLIGHT_CACHE,
        allow_credentials=False,  # tokens travel in Authorization, never in cookies
    )
    # sockets check their Origin themselves (403, streams/origin.py); quart-cors would refuse with 400
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            view: Any = app.view_functions[rule.endpoint]
            cors_exempt(view)
