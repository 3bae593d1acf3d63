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
from urllib.parse import urlsplit

_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
# the HTTP scheme whose origin a request of this scheme belongs to
_HTTP_SCHEME: Final = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def normalise(origin: str) -> str:
    """``scheme://host[:port]`` lowercased, without a trailing / and without the scheme's default port;
    an origin that does not parse (``null``, say) is returned lowercased and matches only itself."""
    origin = origin.strip().rstrip("/").lower()
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return origin
    if not parts.scheme or not parts.hostname:
        return origin
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or str(port) == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def own_origin(scheme: str, host: str) -> str:
    return normalise(f"{_HTTP_SCHEME.get(scheme, scheme)}://{host}")


def origin_allowed(origin: str | None, scheme: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a handshake with this ``Origin`` header may go on."""
    if origin is None or origin == "":
        return True
    seen = normalise(origin)
    if host and seen == own_origin(scheme, host):
        return True
    return seen in {normalise(item) for item in allowed}


def scope_origin_allowed(scope: Mapping[str, Any], allowed: tuple[str, ...]) -> bool:
    """``origin_allowed`` for an ASGI scope (its raw headers, its scheme)."""
    origin = host = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    return origin_allowed(origin, scope.get("scheme", "http"), host, allowed)
