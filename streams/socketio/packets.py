"""The wire format: Engine.IO 4 packets, Socket.IO 5 packets, long-polling payloads. Nothing else in the
code builds these strings by hand, except that ``event_packet`` is called once per event by the fan-out.

Engine.IO (https://socket.io/docs/v4/engine-io-protocol/): one character for the type, then the data.
Socket.IO (https://socket.io/docs/v4/socket-io-protocol/): a type digit, ``/nsp,`` unless the namespace
is ``/``, an ack id, then JSON. Over Engine.IO a Socket.IO packet travels as a message, ``4`` + packet:
``42["event",{...}]``. A polling payload joins Engine.IO packets with the record separator (0x1e).
Binary packets (types 5 and 6, attachments) are not used by this API and are refused by ``decode``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

import msgspec

SEPARATOR: Final = "\x1e"
_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.decode


class EngineType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class SocketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


class PacketError(ValueError):
    """Not a packet of the protocol (or a binary one)."""


@dataclass(frozen=True)
class EnginePacket:
    type: EngineType
    data: str = ""


@dataclass(frozen=True)
class SocketPacket:
    type: SocketType
    namespace: str = "/"
    data: Any = None
    ack_id: int | None = None


# --- Engine.IO -------------------------------------------------------------------------------------


def encode_engine(kind: EngineType, data: str = "") -> str:
    return str(int(kind)) + data


def decode_engine(text: str) -> EnginePacket:
    if not text or not "0" <= text[0] <= "6":
        raise PacketError(f"not an Engine.IO packet: {text[:20]!r}")
    return EnginePacket(EngineType(int(text[0])), text[1:])


def encode_payload(packets: list[str]) -> str:
    """A long-polling response body: Engine.IO packets joined by the record separator."""
    return SEPARATOR.join(packets)


def decode_payload(body: str) -> list[EnginePacket]:
    return [decode_engine(part) for part in body.split(SEPARATOR)]


def open_packet(sid: str, upgrades: list[str], ping_interval_ms: int, ping_timeout_ms: int,
                max_payload: int) -> str:
    handshake = {"sid": sid, "upgrades": upgrades, "pingInterval": ping_interval_ms, "pingTimeout": ping_timeout_ms,
                 "maxPayload": max_payload}
    return encode_engine(EngineType.OPEN, _encode_json(handshake).decode())


# --- Socket.IO (as Engine.IO messages) -------------------------------------------------------------


def encode_socket(kind: SocketType, data: Any = None, namespace: str = "/", ack_id: int | None = None) -> str:
    """The Engine.IO message that carries one Socket.IO packet: ``4`` + type + [/nsp,] + [ack id] + [JSON]."""
    text = "4" + str(int(kind))
    if namespace != "/":
        text += namespace + ","
    if ack_id is not None:
        text += str(ack_id)
    if data is not None:
        text += _encode_json(data).decode()
    return text


def decode_socket(text: str) -> SocketPacket:
    """One Socket.IO packet (the data of an Engine.IO message, without its ``4``)."""
    if not text or not "0" <= text[0] <= "6":
        raise PacketError(f"not a Socket.IO packet: {text[:20]!r}")
    kind = SocketType(int(text[0]))
    if kind in (SocketType.BINARY_EVENT, SocketType.BINARY_ACK):
        raise PacketError("binary packets are not supported")
    index = 1
    namespace = "/"
    if index < len(text) and text[index] == "/":
        end = text.find(",", index)
        namespace = text[index:] if end < 0 else text[index:end]
        index = len(text) if end < 0 else end + 1
    start = index
    while index < len(text) and text[index].isdigit():
        index += 1
    ack_id = int(text[start:index]) if index > start else None
    data: Any = None
    if index < len(text):
        try:
            data = _decode_json(text[index:])
        except msgspec.DecodeError as error:
            raise PacketError(f"the packet's data is not JSON: {error}") from None
    if kind is SocketType.EVENT and (not isinstance(data, list) or not data or not isinstance(data[0], str)):
        raise PacketError("an event's data is a list that starts with the event name")
    if kind is SocketType.CONNECT and data is not None and not isinstance(data, dict):
        raise PacketError("a CONNECT packet's data is an object")
    return SocketPacket(kind, namespace, data, ack_id)


def connect_packet(sid: str, pid: str | None) -> str:
    """The CONNECT answer, ``40{"sid":..,"pid":..}`` (the client tracks offsets only when a pid came)."""
    return encode_socket(SocketType.CONNECT, {"sid": sid, "pid": pid} if pid else {"sid": sid})


def connect_error_packet(message: str, data: Any = None, namespace: str = "/") -> str:
    body: dict[str, Any] = {"message": message}
    if data is not None:
        body["data"] = data
    return encode_socket(SocketType.CONNECT_ERROR, body, namespace)


def event_packet(event: str, data_json: str, offset: str | None = None) -> str:
    """``42["event",data,"offset"]`` with ``data`` already JSON (a stream entry's field, embedded raw);
    built once per event for every socket that gets it."""
    tail = "]" if offset is None else ',"' + offset + '"]'
    return '42[' + _encode_json(event).decode() + "," + (data_json or "null") + tail


def emit_packet(event: str, *args: Any) -> str:
    return encode_socket(SocketType.EVENT, [event, *args])


def ack_packet(ack_id: int, *args: Any) -> str:
    return encode_socket(SocketType.ACK, list(args), ack_id=ack_id)


def offset_of(packet: str) -> str | None:
    """The offset an ``event_packet`` ends with (its last argument), or None."""
    if not packet.endswith('"]'):
        return None
    start = packet.rfind(',"', 0, len(packet) - 2)
    return None if start < 0 else packet[start + 2:-2]
