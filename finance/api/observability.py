"""What operators see of the HTTP layer: ``/metrics``, the request id, and per request a metric sample
and (``LOG_FORMAT=json``) a log line.

``/metrics`` answers the Prometheus text format (finance/metrics.py). With ``METRICS_TOKEN`` set it asks
for ``Authorization: Bearer <that token>`` (401 otherwise); without it, it answers loopback clients only
(403 otherwise): behind a proxy on the same host every client looks local, so set the token there.

Every response carries ``X-Request-Id``: the request's own when it sent a sane one (1-128 of
``A-Za-z0-9._:-``), else a new one. Requests are labelled by their route template (``url_rule``), never
by the raw path, which carries ids.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from quart import Blueprint, Quart, Response, current_app, g, request
from quart_schema import hide
from werkzeug.datastructures import Headers

from finance import logs, metrics
from finance.auth import users
from finance.settings import Settings

REQUEST_ID_HEADER: Final = "X-Request-Id"
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TOKEN_KEY: Final = "metrics_token"
_JSON_LOGS_KEY: Final = "json_logs"

blueprint = Blueprint("observability", __name__)


def request_id(headers: Headers) -> str:
    given = headers.get(REQUEST_ID_HEADER)
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@blueprint.get("/metrics")
@hide
async def metrics_page() -> Response:
    token: str = current_app.extensions[_TOKEN_KEY]
    if token:
        given = users.bearer_token(request.headers.get("Authorization"))
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("send Authorization: Bearer <METRICS_TOKEN>\n", status=401,
                            content_type="text/plain", headers={"WWW-Authenticate": "Bearer"})
    elif not _loopback(request.remote_addr):
        return Response("metrics answer loopback clients only; set METRICS_TOKEN to allow others\n",
                        status=403, content_type="text/plain")
    body = await asyncio.to_thread(metrics.render)  # multiprocess mode reads every worker's files
    return Response(body, content_type=metrics.CONTENT_TYPE)


def install(app: Quart, settings: Settings) -> None:
    """/metrics, and the hooks that time, count, tag and (in JSON) log every request. Call first in
    create_app, so that the start is taken before any other hook runs."""
    app.extensions[_TOKEN_KEY] = settings.metrics_token
    app.register_blueprint(blueprint)
    log_requests = app.extensions[_JSON_LOGS_KEY] = settings.log_format == logs.JSON

    @app.before_request
    async def started() -> None:
        g.request_started = time.perf_counter()
        g.request_id = request_id(request.headers)

    @app.after_request
    async def finished(response: Response) -> Response:
        started_at: float = g.get("request_started", time.perf_counter())
        seconds = time.perf_counter() - started_at
        rule = request.url_rule
        route = rule.rule if rule is not None else None
        metrics.http_request(request.method, route, response.status_code, seconds)
        the_id: str = g.get("request_id") or request_id(request.headers)
        response.headers[REQUEST_ID_HEADER] = the_id
        if log_requests:
            logs.ACCESS.info("request", extra={"fields": {
                "requestId": the_id, "method": request.method, "route": route or metrics.UNMATCHED_ROUTE,
                "status": response.status_code, "durationMs": round(seconds * 1000, 3),
                "userId": g.get("user_id"),
            }})
        return response


SocketLog = Callable[..., None]


def socket_log() -> SocketLog:
    """The socket open/close line writer of this app (JSON logs only are per socket; the text log stays
    quiet). Made in the route, it works outside the app context too: a lean socket ends after the route."""
    if not current_app.extensions.get(_JSON_LOGS_KEY):
        return _quiet

    def socket_event(event: str, request_id_value: str, user_id: str | None, **fields: Any) -> None:
        logs.ACCESS.info(event, extra={"fields": {"requestId": request_id_value, "userId": user_id, **fields}})
    return socket_event


def _quiet(*_args: Any, **_fields: Any) -> None:
    return None
