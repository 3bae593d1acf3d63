"""The Origin check of socket handshakes (/ws, /socket.io/): no cross-site WebSocket hijacking.

Browsers apply no CORS to WebSockets, and a page on any site may open a socket to us. Tokens travel in
the query or the CONNECT packet rather than in cookies, but a socket is still refused (403, before the
upgrade) when it carries an ``Origin`` that is neither the app's own (the scheme and ``Host`` the request
came with) nor listed in CORS_ORIGINS. Clients that send no Origin (servers, CLIs) are not browsers and
pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from finance.origins import normalise

# the HTTP scheme whose origin a request of this scheme belongs to
_HTTP_SCHEME: Final = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def own_origin(scheme: str, host: str) -> str:
    return normalise(f"{_HTTP_SCHEME.get(scheme, scheme)}://{host}")


def origin_allowed(origin: str | None, scheme: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a handshake with this ``Origin`` header may go on (``allowed``: the settings' CORS_ORIGINS,
    already normalised)."""
    if origin is None or origin == "":
        return True
    seen = normalise(origin)
    if host and seen == own_origin(scheme, host):
        return True
    return seen in allowed


def scope_origin_allowed(scope: Mapping[str, Any], allowed: tuple[str, ...]) -> bool:
    """``origin_allowed`` for an ASGI scope (its raw headers, its scheme)."""
    origin = host = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    return origin_allowed(origin, scope.get("scheme", "http"), host, allowed)
