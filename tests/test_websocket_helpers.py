"""Helpers shared by the WebSocket and stream tests (no tests here): frames, and the streams' truth in Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from quart import Quart

from finance.market import Market


async def next_frame(ws: Any, wait_seconds: float = 5.0) -> dict[str, Any]:
    """The next frame from a Quart test-client socket, decoded."""
    raw = await asyncio.wait_for(ws.receive(), wait_seconds)
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def frames(ws: Any, count: int, wait_seconds: float = 5.0) -> list[dict[str, Any]]:
    return [await next_frame(ws, wait_seconds) for _ in range(count)]


async def no_frame_within(ws: Any, seconds: float) -> None:
    try:
        raw = await asyncio.wait_for(ws.receive(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected no frame, got {raw!r}")


def market_of(app: Any) -> Market:
    """The market of a test app (the ``app`` fixture yields Quart's TestApp, which wraps the app)."""
    quart_app: Quart = getattr(app, "app", app)
    market: Market = quart_app.extensions["market"]
    return market


async def stream_ids(market: Market, key: str, after: str = "-") -> list[str]:
    """Every entry id of a stream after ``after`` ('-' for all), oldest first: what clients must get."""
    entries = await market.redis.xrange(key, min=after if after == "-" else "(" + after, max="+")
    return [entry_id for entry_id, _ in entries]


def by_stream(received: list[dict[str, Any]], stream: str) -> list[str]:
    return [frame["id"] for frame in received if frame.get("type") == "event" and frame["stream"] == stream]


def events(received: list[dict[str, Any]], stream: str) -> list[str]:
    return [frame["event"] for frame in received if frame.get("type") == "event" and frame["stream"] == stream]
