"""Socket.IO v4 at ``/socket.io/`` (Engine.IO 4, Socket.IO 5) over the same hub and streams as /ws.

    packets.py    the wire format: Engine.IO and Socket.IO packets, polling payloads
    recovery.py   offsets, the per-socket ring of stream positions, where a recovered socket resumes
    fanout.py     the Socket.IO subscriber and its frames, built once per event by the hub
    protocol.py   what both transports share: auth answers, recovery records, the session state
    server.py     the process's Socket.IO sockets and their Engine.IO heartbeat
    sessions.py   Engine.IO sessions in Redis, so any worker answers any poll
    websocket.py  the websocket transport (fresh, or upgraded from polling), lean after its replay
    polling.py    the long-polling transport

Protocol notes, and what a seed-style frontend changes, in docs/websocket.md.
"""

from __future__ import annotations

from quart import Blueprint, Quart, Response, current_app
from quart_schema import hide

from streams.hub import Hub
from streams.socketio import polling
from streams.socketio import websocket as socketio_websocket
from streams.socketio.server import SocketioServer

blueprint = Blueprint("socketio", __name__)
PATH = "/socket.io/"


@blueprint.route(PATH, methods=["GET", "POST"])
@hide  # the Engine.IO protocol, not the REST API: kept out of /openapi.json (docs/websocket.md describes it)
async def socketio_polling() -> Response:
    the_server: SocketioServer = current_app.extensions["socketio"]
    return await polling.handle(the_server)


@blueprint.websocket(PATH)
async def socketio_websocket_route() -> Response | None:
    return await socketio_websocket.handle()


def install(app: Quart) -> None:
    """The routes."""
    app.register_blueprint(blueprint)


def start_socketio(hub: Hub) -> SocketioServer:
    the_server = SocketioServer(hub)
    the_server.start()
    return the_server


async def stop_socketio(the_server: SocketioServer) -> None:
    await the_server.stop()
