"""Stream entry ids and the JSON frames of the WebSocket protocol (docs/websocket.md).

An event frame is encoded once per event and the same ``str`` is handed to every socket; the entry's
``data`` field is already JSON (written by the Lua scripts), so it is embedded as it is, not re-encoded.
"""

from __future__ import annotations

from typing import Final

import msgspec

from finance.outcomes import Outcome

PONG: Final = '{"type":"pong"}'
_encode = msgspec.json.Encoder().encode


def event_frame(stream: str, entry_id: str, event: str, data_json: str) -> str:
    """``{"type":"event","stream":...,"id":...,"event":...,"data":{...}}`` with ``data`` embedded raw."""
    return (
        '{"type":"event","stream":"' + stream + '","id":"' + entry_id + '","event":'
        + _encode(event).decode() + ',"data":' + (data_json or "null") + "}"
    )


def entry_frame(stream: str, entry_id: str, fields: dict[str, str]) -> str:
    """The event frame of one stream entry as XRANGE/XREAD return it."""
    return event_frame(stream, entry_id, fields.get("event", ""), fields.get("data", ""))


def hello_frame(user_id: str, recovered: bool, since: str, market_since: str) -> str:
    """``since`` / ``marketSince``: the ids each stream is delivered after on this socket. A client that
    has seen no event of a stream yet resumes from them, so nothing committed while it reconnects is lost."""
    return _encode({"type": "hello", "userId": user_id, "recovered": recovered, "since": since,
                    "marketSince": market_since}).decode()


def error_frame(code: Outcome, message: str) -> str:
    return _encode({"type": "error", "error": {"code": code, "message": message}}).decode()
