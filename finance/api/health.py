"""/health: liveness, and whether Redis answers."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from finance.api.http import json, market
from finance.api.schemas import HealthOut
from finance.connection import UNAVAILABLE_ERRORS

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
@document_response(HealthOut, 200)
@document_response(HealthOut, 503)
async def health() -> Response:
    """200 with redis "up", or 503 with redis "down"."""
    try:
        await market().redis.ping()
    except UNAVAILABLE_ERRORS:
        return json({"status": "degraded", "redis": "down"}, 503)
    return json({"status": "ok", "redis": "up"})
