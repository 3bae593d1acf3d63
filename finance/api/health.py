"""/health: liveness, and whether Redis answers."""

from __future__ import annotations

from quart import Blueprint, Response

from finance.api.http import json, market
from finance.connection import UNAVAILABLE_ERRORS

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
async def health() -> Response:
    """200 with redis "up", or 503 with redis "down"."""
    try:
        await market().redis.ping()
    except UNAVAILABLE_ERRORS:
        return json({"status": "degraded", "redis": "down"}, 503)
    return json({"status": "ok", "redis": "up"})
