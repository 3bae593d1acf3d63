"""The web app at ``/``: index.html and its ES modules and CSS, read once from the ``web`` package data.

Every answer carries a Content-Security-Policy without inline script, so data that reached the page as
HTML could not run even if a view forgot to render it as text (the views only ever set textContent).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from quart import Blueprint, Response, request
from quart_schema import hide

from finance.outcomes import DomainError, Outcome

blueprint = Blueprint("web", __name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# what may be asked for: the package's own files, by plain relative names
_ASSET = re.compile(r"(?:[a-z0-9_-]+/){0,2}[a-z0-9_-]+\.(?:js|css|svg)")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found |= _walk(entry, name + "/")
        elif name.endswith(tuple(_TYPES)):
            body = entry.read_bytes()
            found[name] = Asset(body, _TYPES[name[name.rfind("."):]], hashlib.sha256(body).hexdigest()[:20])
    return found


@cache
def _assets() -> dict[str, Asset]:
    """Every file of the web package, read once (a few hundred KB): no lookup ever touches the disk,
    and a name that is not there costs a dict miss, not a cache entry."""
    return _walk(resources.files("web"))


def _asset(name: str) -> Asset | None:
    return _assets().get(name)


def _serve(asset: Asset) -> Response:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # revalidated every time (cheap: 304 by ETag), so a new release is never half-loaded from cache
        "Cache-Control": "no-cache",
        "ETag": f'"{asset.etag}"',
    }
    if request.headers.get("If-None-Match") == f'"{asset.etag}"':
        return Response(status=304, headers=headers)
    return Response(asset.body, content_type=asset.content_type, headers=headers)


@blueprint.get("/")
@hide
async def index() -> Response:
    asset = _asset("index.html")
    assert asset is not None, "the web package ships index.html"
    return _serve(asset)


@blueprint.get("/app/<path:name>")
@hide
async def static_file(name: str) -> Response:
    asset = _asset(name) if _ASSET.fullmatch(name) else None
    if asset is None:
        raise DomainError(Outcome.NOT_FOUND, "no such file")
    return _serve(asset)
