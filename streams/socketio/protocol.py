"""What both transports share: the Engine.IO settings, the auth answers, and the recovery records in Redis."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from finance.auth.users import User
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from streams.lean import CLIENT_FRAME_BYTES_MAX
from streams.socketio.packets import SocketPacket, ack_packet, emit_packet
from streams.socketio.recovery import RECOVERY_SECONDS, Positions, Record, decode_record

# Engine.IO's defaults, as socket.io-client expects them
PING_INTERVAL_MS: Final = 25_000
PING_TIMEOUT_MS: Final = 20_000
# the largest packet a client may send, advertised in the handshake: what a lean socket reads (a larger
# frame closes it with 1009), so the limit does not depend on whether the socket has turned lean yet
MAX_PAYLOAD_BYTES: Final = CLIENT_FRAME_BYTES_MAX
# a socket that has not authenticated this long after it opened is closed
AUTH_SECONDS: Final = 10.0
AUTHENTICATE: Final = "authenticate"
INVALID_NAMESPACE: Final = "Invalid namespace"


def new_id() -> str:
    """A session or private id: 20 random bytes, URL-safe (unguessable: a pid resumes a user's socket)."""
    return secrets.token_urlsafe(20)


@dataclass(frozen=True)
class ConnectRequest:
    token: str
    pid: str | None
    offset: object


def read_connect(packet: SocketPacket) -> ConnectRequest:
    """The CONNECT packet's auth: ``{token}``, and ``{pid, offset}`` when the client resumes."""
    data: dict[str, Any] = packet.data if isinstance(packet.data, dict) else {}
    token = data.get("token")
    pid = data.get("pid")
    return ConnectRequest(token if isinstance(token, str) else "", pid if isinstance(pid, str) and pid else None,
                          data.get("offset"))


def authenticate_token(packet: SocketPacket) -> str:
    """The token of ``emit('authenticate', token)`` (a string, or ``{token}``)."""
    args = packet.data[1:] if isinstance(packet.data, list) else []
    first = args[0] if args else ""
    if isinstance(first, dict):
        first = first.get("token", "")
    return first if isinstance(first, str) else ""


def authenticated_packets(user: User, ack_id: int | None) -> list[str]:
    """``authenticated {userId, role}``, and the ack with the same, if the client asked for one."""
    payload = {"userId": user.id, "role": user.role.value}
    packets = [emit_packet("authenticated", payload)]
    if ack_id is not None:
        packets.append(ack_packet(ack_id, payload))
    return packets


def auth_error_payload(error: DomainError | None) -> dict[str, str]:
    if error is None:
        return {"code": Outcome.UNAUTHORIZED.value, "message": "a valid token is required"}
    return {"code": error.outcome.value, "message": error.message}


def auth_error_packets(error: DomainError | None, ack_id: int | None) -> list[str]:
    payload = auth_error_payload(error)
    packets = [emit_packet("auth_error", payload)]
    if ack_id is not None:
        packets.append(ack_packet(ack_id, payload))
    return packets


async def save_recovery(market: Market, pid: str, user: User, positions: Positions) -> None:
    """A dropped socket's state under its pid, for RECOVERY_SECONDS."""
    await market.redis.set(market.keys.socketio_recovery(pid), positions.encode(user.id, user.session_key),
                           ex=RECOVERY_SECONDS)


async def forget_recovery(market: Market, pid: str) -> None:
    await market.redis.delete(market.keys.socketio_recovery(pid))


async def take_recovery(market: Market, pid: str) -> tuple[User, Positions] | None:
    """The state saved under ``pid`` (taken: a pid recovers once), with its user, while the user's token
    still exists; None otherwise."""
    if len(pid) > 100:
        return None
    record: Record | None = decode_record(await market.redis.getdel(market.keys.socketio_recovery(pid)))
    if record is None:
        return None
    positions = record.positions()
    if positions is None:
        return None
    fields: dict[str, str] = await market.redis.hgetall(record.session_key)
    if not fields:
        return None  # logged out or expired meanwhile
    user = User.from_hash(fields, record.session_key)
    return (user, positions) if user.id == record.user_id else None


@dataclass
class SocketState:
    """One Engine.IO session's Socket.IO state (namespace ``/`` only)."""

    sid: str
    pid: str | None = None
    connected: bool = False  # the CONNECT of "/" was answered
    user: User | None = None
    positions: Positions | None = None  # where to start: set by a recovery, or by the polling transport
    recovered: bool = False
    deadline: float = 0.0  # loop time by which an unauthenticated socket is closed
    outbox: list[str] = field(default_factory=list)  # packets to send before anything else
    # the answer that completes auth (40 or authenticated), sent once the socket's streams are fixed
    after_subscribe: list[str] = field(default_factory=list)
