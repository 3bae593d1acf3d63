"""Engine.IO sessions in Redis, so that any worker can answer any poll (no sticky sessions).

A session is a hash (finance/keys.py ``socketio_session``) and a list of control packets waiting for the
next poll (``socketio_outbox``: CONNECT answers, ``authenticated``, acks). Its events are not copied
anywhere: the user and market streams are the outbox, read from the session's positions by whichever
worker serves the poll. Both keys expire when no request has come for pingInterval + pingTimeout.

Fields: ``pid``; ``connected`` (the CONNECT of "/" was answered); ``user``, ``session_key`` (its token's
key); ``user_pos``, ``market_pos`` (what the last poll sent up to); ``pending_connect`` (a CONNECT
answer that goes after the stream frames of the next answer); ``deadline_ms`` (auth deadline, unix ms); ``version``
(bumped by every change a waiting poll must see); ``upgrading``/``upgraded``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

from finance.auth.users import User
from finance.market import Market
from finance.stream_ids import ZERO, Order, id_of, parse_stream_id
from streams.socketio.protocol import PING_INTERVAL_MS, PING_TIMEOUT_MS, SocketState
from streams.socketio.recovery import RECOVERY_SECONDS, Positions

SESSION_SECONDS: Final = (PING_INTERVAL_MS + PING_TIMEOUT_MS) // 1000
# after an upgrade the session only answers stray polls (400) for a little while
UPGRADED_SECONDS: Final = 10


def now_ms() -> int:
    """Wall time for session deadlines (not the market's clock, which tests pin)."""
    return time.time_ns() // 1_000_000


@dataclass
class PollSession:
    sid: str
    fields: dict[str, str]

    @property
    def pid(self) -> str | None:
        return self.fields.get("pid") or None

    @property
    def connected(self) -> bool:
        return self.fields.get("connected") == "1"

    @property
    def user_id(self) -> str:
        return self.fields.get("user", "")

    @property
    def session_key(self) -> str:
        return self.fields.get("session_key", "")

    @property
    def version(self) -> str:
        return self.fields.get("version", "0")

    @property
    def deadline_ms(self) -> int:
        return int(self.fields.get("deadline_ms") or 0)

    @property
    def upgrading(self) -> bool:
        return "upgrading" in self.fields

    @property
    def upgraded(self) -> bool:
        return "upgraded" in self.fields

    def positions(self) -> tuple[Order, Order]:
        return (parse_stream_id(self.fields.get("user_pos", "")) or ZERO,
                parse_stream_id(self.fields.get("market_pos", "")) or ZERO)


async def create(market: Market, sid: str, deadline_ms: int) -> None:
    keys = market.keys
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.socketio_session(sid), mapping={"deadline_ms": deadline_ms, "version": 0})
        pipe.expire(keys.socketio_session(sid), SESSION_SECONDS)
        await pipe.execute()


async def load(market: Market, sid: str) -> PollSession | None:
    """The session (its expiry renewed: a request came), or None when it is unknown or gone."""
    if not sid or len(sid) > 100:
        return None
    keys = market.keys
    async with market.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.socketio_session(sid))
        pipe.expire(keys.socketio_session(sid), SESSION_SECONDS)
        pipe.expire(keys.socketio_outbox(sid), SESSION_SECONDS)
        fields, _, _ = await pipe.execute()
    return PollSession(sid, fields) if fields else None


async def update(market: Market, sid: str, changes: dict[str, Any], outbox: list[str] | None = None) -> None:
    """Applies ``changes`` (a value None deletes the field), queues ``outbox`` and bumps the version."""
    keys = market.keys
    key = keys.socketio_session(sid)
    async with market.redis.pipeline(transaction=True) as pipe:
        sets = {name: value for name, value in changes.items() if value is not None}
        deletes = [name for name, value in changes.items() if value is None]
        if sets:
            pipe.hset(key, mapping=sets)
        if deletes:
            pipe.hdel(key, *deletes)
        pipe.hincrby(key, "version", 1)
        if outbox:
            pipe.rpush(keys.socketio_outbox(sid), *outbox)
            pipe.expire(keys.socketio_outbox(sid), SESSION_SECONDS)
        await pipe.execute()


async def take_outbox(market: Market, sid: str) -> list[str]:
    key = market.keys.socketio_outbox(sid)
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        packets, _ = await pipe.execute()
    return list(packets)


async def changed(market: Market, sid: str, version: str) -> bool:
    """Whether a waiting poll must look again: packets queued, the session changed or gone."""
    keys = market.keys
    async with market.redis.pipeline(transaction=False) as pipe:
        pipe.llen(keys.socketio_outbox(sid))
        pipe.hget(keys.socketio_session(sid), "version")
        queued, current = await pipe.execute()
    return bool(queued) or current != version


async def delete(market: Market, sid: str) -> None:
    await market.redis.delete(market.keys.socketio_session(sid), market.keys.socketio_outbox(sid))


async def save_confirmed(market: Market, session: PollSession, end: tuple[Order, Order], confirmed: Positions,
                         pending_connect_sent: bool) -> None:
    """After a poll's answer: where the next one reads from, and the recovery record (what the client
    surely has, and the ring of this answer) under the pid."""
    record = confirmed.encode(session.user_id, session.session_key)
    changes: dict[str, Any] = {"user_pos": id_of(end[0]), "market_pos": id_of(end[1])}
    if pending_connect_sent:
        changes["pending_connect"] = None
    keys = market.keys
    key = keys.socketio_session(session.sid)
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={name: value for name, value in changes.items() if value is not None})
        if pending_connect_sent:
            pipe.hdel(key, "pending_connect")
        if session.pid:
            pipe.set(keys.socketio_recovery(session.pid), record, ex=RECOVERY_SECONDS + SESSION_SECONDS)
        await pipe.execute()


# --- the upgrade to websocket -----------------------------------------------------------------------


async def upgradable(market: Market, sid: str) -> bool:
    session = await load(market, sid)
    return session is not None and not session.upgraded


async def mark_upgrading(market: Market, sid: str) -> None:
    await update(market, sid, {"upgrading": 1})


async def user_of(market: Market, session: PollSession) -> User | None:
    """The session's user while its token exists."""
    if not session.user_id or not session.session_key:
        return None
    fields: dict[str, str] = await market.redis.hgetall(session.session_key)
    if not fields:
        return None
    user = User.from_hash(fields, session.session_key)
    return user if user.id == session.user_id else None


async def finish_upgrade(market: Market, sid: str) -> SocketState | None:
    """The client's ``5`` came: the session is the websocket's now. Returns its state, or None."""
    session = await load(market, sid)
    if session is None:
        return None
    await update(market, sid, {"upgraded": 1})
    await market.redis.expire(market.keys.socketio_session(sid), UPGRADED_SECONDS)
    outbox = await take_outbox(market, sid)
    if session.fields.get("pending_connect"):
        outbox.append(session.fields["pending_connect"])
    user = await user_of(market, session)
    state = SocketState(sid, pid=session.pid, connected=session.connected, user=user, outbox=outbox)
    if user is not None:
        user_pos, market_pos = session.positions()
        state.positions = Positions(user_pos, market_pos)
    # the websocket's loop-time deadline: what is left of the session's
    state.deadline = asyncio.get_running_loop().time() + (session.deadline_ms - now_ms()) / 1000
    return state
