"""The load generator's view of our /socket.io/: it authenticates with the CONNECT packet and reads our
event frames (event, data, offset) as it reads the native baseline's."""

from __future__ import annotations

import asyncio

from loadtest.events import CREATE, decode_frame, trigger_of
from loadtest.wsproto_client import LeanWebSocket


def test_our_socketio_event_decodes_to_its_stream_id_and_trigger() -> None:
    frame = decode_frame(b'42["newInvoiceListed",{"id":"inv-7","amount":100},"m1795485423795-3"]')
    assert (frame.type, frame.stream, frame.id, frame.event) == ("event", "market", "1795485423795-3",
                                                                 "newInvoiceListed")
    assert trigger_of(frame.event or "", frame.data) == (CREATE, "inv-7")
    user = decode_frame(b'42["walletUpdated",{"balance":5},"u17-0"]')
    assert (user.stream, user.id) == ("user", "17-0")
    native = decode_frame(b'42["broadcast",{"type":"event","stream":"market","id":"5-0","event":"broadcast",'
                          b'"data":{"seq":3}}]')
    assert (native.stream, native.id, native.data.seq if native.data else None) == ("market", "5-0", 3)


async def test_the_lean_client_sends_the_token_as_connect_auth() -> None:
    assert LeanWebSocket("h", "/socket.io/?EIO=4&transport=websocket&token=abc").socketio_connect == (
        b'40{"token":"abc"}')
    assert LeanWebSocket("h", "/socket.io/?EIO=4&transport=websocket").socketio_connect == b"40"
    await asyncio.sleep(0)
