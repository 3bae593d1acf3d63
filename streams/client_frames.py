"""What the server answers to a client's frame on ``/ws``: a pong to a ping, an error frame to anything
else (the connection is kept). Used by the route (streams/websocket.py) and by lean sockets
(streams/lean.py)."""

from __future__ import annotations

from typing import Final

import msgspec

from finance.outcomes import Outcome
from streams.envelope import PONG, error_frame

CLIENT_FRAME_BYTES_MAX: Final = 4_096


class ClientFrame(msgspec.Struct):
    type: str


_decode_client_frame = msgspec.json.Decoder(ClientFrame).decode


def answer(message: str | bytes) -> str:
    """The reply to one client frame: pong to a ping, an error frame to anything else."""
    if len(message) > CLIENT_FRAME_BYTES_MAX:
        return error_frame(Outcome.FRAME_TOO_LARGE, f"frames are at most {CLIENT_FRAME_BYTES_MAX} bytes")
    try:
        frame = _decode_client_frame(message)
    except msgspec.DecodeError:  # ValidationError included: not JSON, or no string "type"
        return error_frame(Outcome.MALFORMED_FRAME, 'send JSON such as {"type":"ping"}')
    if frame.type == "ping":
        return PONG
    return error_frame(Outcome.UNKNOWN_TYPE, f"unknown frame type {frame.type[:40]!r}; the only one is 'ping'")
