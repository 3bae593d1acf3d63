"""/api/users/notifications: the caller's events, newest first, and marking them read."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from finance import notifications
from finance.api.http import authenticated, json, json_body, market, query
from finance.api.schemas import NotificationsOut, ReadMarkerOut, ReadUpToRequest, StreamPageQuery
from finance.auth.users import User
from finance.outcomes import DomainError, Outcome
from finance.pages import page_size
from finance.stream_ids import cursor_order, parse_stream_id

blueprint = Blueprint("notifications", __name__, url_prefix="/api/users")


@blueprint.get("/notifications")
@authenticated()
@query(StreamPageQuery)
@document_response(NotificationsOut)
async def list_notifications(user: User) -> Response:
    """Newest first; ``before=<nextCursor>`` for the next page; ``limit`` 1..100. Each item has ``read``;
    ``unread`` counts every unread notification, not just this page's."""
    before = cursor_order(request.args.get("before"))
    limit = page_size(request.args.get("limit"))
    return json(await notifications.list_notifications(market(), user.id, before, limit))


@blueprint.post("/notifications/read")
@authenticated()
@json_body(ReadUpToRequest)
@document_response(ReadMarkerOut)
async def mark_read(user: User, body: ReadUpToRequest) -> Response:
    """Marks read every notification up to the event id ``upTo`` (a stream id from the list or a
    WebSocket frame). The marker never moves backwards. Returns ``{readUpTo, unread}``."""
    up_to = parse_stream_id(body.up_to, clamp=True)
    if up_to is None:
        raise DomainError(Outcome.INVALID_REQUEST, "upTo must be an event id such as 1732412345678-0")
    return json(await notifications.mark_read(market(), user.id, up_to))
