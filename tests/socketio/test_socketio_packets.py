"""The wire format against the protocols' own examples (socket.io-protocol v5, engine.io-protocol v4)."""

from __future__ import annotations

import pytest

from streams.socketio.packets import (
    EngineType,
    PacketError,
    SocketPacket,
    SocketType,
    ack_packet,
    connect_error_packet,
    connect_packet,
    decode_engine,
    decode_payload,
    decode_socket,
    encode_engine,
    encode_payload,
    encode_socket,
    event_packet,
    offset_of,
    open_packet,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("0", SocketPacket(SocketType.CONNECT)),
    ('0/admin,{"token":"123"}', SocketPacket(SocketType.CONNECT, "/admin", {"token": "123"})),
    ('0{"pid":"p1","offset":"m1-0","token":"t"}', SocketPacket(SocketType.CONNECT, "/", {"pid": "p1", "offset": "m1-0",
                                                                                            "token": "t"})),
    ("1/admin,", SocketPacket(SocketType.DISCONNECT, "/admin")),
    ("1", SocketPacket(SocketType.DISCONNECT)),
    ('2["foo"]', SocketPacket(SocketType.EVENT, "/", ["foo"])),
    ('2/admin,["bar"]', SocketPacket(SocketType.EVENT, "/admin", ["bar"])),
    ('212["foo"]', SocketPacket(SocketType.EVENT, "/", ["foo"], 12)),
    ('3/admin,13["bar"]', SocketPacket(SocketType.ACK, "/admin", ["bar"], 13)),
    ('20["authenticate","tok"]', SocketPacket(SocketType.EVENT, "/", ["authenticate", "tok"], 0)),
    ('4{"message":"Not authorized"}', SocketPacket(SocketType.CONNECT_ERROR, "/", {"message": "Not authorized"})),
])
def test_socket_packets_decode_as_the_spec_examples(text: str, expected: SocketPacket) -> None:
    assert decode_socket(text) == expected


@pytest.mark.parametrize("text", ["", "7", "x", '2"foo"', "2[]", "2[1]", '0["a"]', "2[",
                                  '51-["a",{"_placeholder":true}]', '6-3["a"]'])
def test_malformed_and_binary_socket_packets_are_refused(text: str) -> None:
    with pytest.raises(PacketError):
        decode_socket(text)


def test_socket_packets_encode_as_messages() -> None:
    assert encode_socket(SocketType.CONNECT) == "40"
    assert connect_packet("s1", "p1") == '40{"sid":"s1","pid":"p1"}'
    assert connect_packet("s1", None) == '40{"sid":"s1"}'
    assert encode_socket(SocketType.DISCONNECT) == "41"
    assert encode_socket(SocketType.EVENT, ["foo", 1], "/admin", 7) == '42/admin,7["foo",1]'
    assert ack_packet(0, {"userId": "u1", "role": "investor"}) == '430[{"userId":"u1","role":"investor"}]'
    assert connect_error_packet("Invalid namespace", namespace="/admin") == '44/admin,{"message":"Invalid namespace"}'
    assert connect_error_packet("bad", {"code": "unauthorized"}) == '44{"message":"bad","data":{"code":"unauthorized"}}'


def test_event_packet_embeds_the_stream_data_raw_and_ends_with_the_offset() -> None:
    packet = event_packet("invoiceUpdated", '{"id":"inv-1","status":"funded"}', "m1732412345678-0")
    assert packet == '42["invoiceUpdated",{"id":"inv-1","status":"funded"},"m1732412345678-0"]'
    assert decode_socket(packet[1:]).data == ["invoiceUpdated", {"id": "inv-1", "status": "funded"},
                                                "m1732412345678-0"]
    assert offset_of(packet) == "m1732412345678-0"
    assert event_packet('say "hi"', "") == '42["say \\"hi\\"",null]'
    assert offset_of('42["a",{"x":"y"}]') is None


def test_engine_packets_and_polling_payloads() -> None:
    assert decode_engine("2probe").type is EngineType.PING
    assert decode_engine("2probe").data == "probe"
    assert encode_engine(EngineType.PONG, "probe") == "3probe"
    assert encode_engine(EngineType.UPGRADE) == "5"
    assert encode_engine(EngineType.NOOP) == "6"
    # the spec's payload example: two messages, "hello" and "€"
    assert [(p.type, p.data) for p in decode_payload("4hello\x1e4€")] == [(EngineType.MESSAGE, "hello"),
                                                                           (EngineType.MESSAGE, "€")]
    assert encode_payload(["4hello", "4€"]) == "4hello\x1e4€"
    assert open_packet("abc", ["websocket"], 25000, 20000, 1000000) == (
        '0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
    with pytest.raises(PacketError):
        decode_engine("9")
