"""Stream entry ids and the JSON frames of the WebSocket protocol (docs/websocket.md).

An event frame is encoded once per event and the same ``str`` is handed to every socket; the entry's
``data`` field is already JSON (written by the Lua scripts), so it is embedded as it is, not re-encoded.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

# An entry id as Redis writes it: "<milliseconds>-<sequence>"; ordered as a pair of integers
Order = tuple[int, int]

_STREAM_ID: Final = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_PART_MAX: Final = 2**64 - 1  # Redis keeps each part of an id as an unsigned 64-bit integer
ZERO_ID: Final = "0-0"
ZERO: Final[Order] = (0, 0)

PONG: Final = '{"type":"pong"}'
_encode = msgspec.json.Encoder().encode


def parse_id(text: str) -> Order | None:
    """``(ms, seq)`` of a well-formed stream id, ``None`` for anything else."""
    match = _STREAM_ID.fullmatch(text)
    if match is None:
        return None
    milliseconds, sequence = int(match.group(1)), int(match.group(2))
    if milliseconds > _PART_MAX or sequence > _PART_MAX:
        return None
    return milliseconds, sequence


def order_of(entry_id: str) -> Order:
    """The order of an id Redis produced (trusted; no validation)."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def id_of(order: Order) -> str:
    return f"{order[0]}-{order[1]}"


def event_frame(stream: str, entry_id: str, event: str, data_json: str) -> str:
    """``{"type":"event","stream":...,"id":...,"event":...,"data":{...}}`` with ``data`` embedded raw."""
    return (
        '{"type":"event","stream":"' + stream + '","id":"' + entry_id + '","event":'
        + _encode(event).decode() + ',"data":' + (data_json or "null") + "}"
    )


def entry_frame(stream: str, entry_id: str, fields: dict[str, str]) -> str:
    """The event frame of one stream entry as XRANGE/XREAD return it."""
    return event_frame(stream, entry_id, fields.get("event", ""), fields.get("data", ""))


def hello_frame(user_id: str, recovered: bool) -> str:
    return _encode({"type": "hello", "userId": user_id, "recovered": recovered}).decode()


def error_frame(code: str, message: str) -> str:
    return _encode({"type": "error", "error": {"code": code, "message": message}}).decode()
