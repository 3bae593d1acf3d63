"""The Origin check of /ws under Hypercorn with a real client: a page on a foreign origin gets 403 before
the upgrade; the app's own origin (scheme-aware), a CORS_ORIGINS origin and a client without Origin pass."""

from __future__ import annotations

import json

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import Backend
from tests.helpers.servers import Http, serving

ALLOWED = "http://localhost:3000"


async def test_ws_origin_refused_allowed_and_own(backend: Backend) -> None:
    settings = backend.settings(cors_origins=(ALLOWED,))
    app = backend.app(cors_origins=(ALLOWED,))
    async with serving(app, settings) as port, aiohttp.ClientSession() as session:
        user = await Http(session, f"http://127.0.0.1:{port}").register("investor", "Origin Check")
        url = f"ws://127.0.0.1:{port}/ws?token={user['token']}"
        for refused in ("http://evil.example", f"https://127.0.0.1:{port}", "http://127.0.0.1:1", "null"):
            with pytest.raises(InvalidStatus) as error:
                async with connect(url, origin=refused):  # type: ignore[arg-type]
                    pass
            assert error.value.response.status_code == 403, refused
            assert json.loads(error.value.response.body)["error"]["code"] == "forbidden"
        for allowed in (ALLOWED, f"http://127.0.0.1:{port}", None):
            async with connect(url, origin=allowed) as ws:  # type: ignore[arg-type]
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello" and hello["userId"] == user["id"]
