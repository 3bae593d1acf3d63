"""Origins (``scheme://host[:port]``) in one form, so that CORS_ORIGINS, a browser's ``Origin`` header and
the app's own origin compare equal when they name the same site: lowercased, no trailing /, no default
port. Used by the settings (CORS_ORIGINS, once) and by the socket Origin check (streams/origin.py)."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}


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
