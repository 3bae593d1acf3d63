"""Redis connections, made in one place.

``REDIS_URL`` unset -> an in-process fakeredis with Lua (one process, nothing persisted).
``redis://`` / ``rediss://`` -> a real server, on RESP2 with pooled connections that are health-checked
and retried, so stale connections left by a Redis restart are replaced instead of failing requests
(RESP3 plus health checks has had a pool bug in redis-py 8, redis/redis-py#4252, so we stay on RESP2).
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import Connection, Redis, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from finance.settings import Settings

# errors that mean "Redis is away", answered with 503 redis_unavailable
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


class _HiredisPacking:
    """Packs commands with hiredis (C) instead of redis-py's asyncio packer (Python, one join per
    argument): a funding's EVALSHA carries 29 arguments, and packing them was the largest Python cost
    of the call (sync redis-py already packs with hiredis when it is installed)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # "SCRIPT LOAD", "CLIENT UNBLOCK": one argument per word
            args = (*args[0].encode().split(), *args[1:])
        packed: bytes = hiredis.pack_command(args)
        return [packed]


class FastConnection(_HiredisPacking, Connection):  # type: ignore[misc]  # redis-py is untyped here
    pass


class FastSSLConnection(_HiredisPacking, SSLConnection):  # type: ignore[misc]
    pass


def _fake_server() -> Any:
    import fakeredis

    return fakeredis.FakeServer()


_EMBEDDED_SERVER: Any = None


def embedded_server() -> Any:
    """The process's one in-memory server, shared by every client of the embedded default."""
    global _EMBEDDED_SERVER  # noqa: PLW0603 - one fake server per process is the point
    if _EMBEDDED_SERVER is None:
        _EMBEDDED_SERVER = _fake_server()
    return _EMBEDDED_SERVER


def connect(settings: Settings, *, server: Any = None, blocking_reads: bool = False) -> Redis:
    """A client for the configured Redis. ``blocking_reads`` is for the stream reader (XREAD BLOCK)."""
    if settings.embedded or server is not None:
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=server or embedded_server(), decode_responses=True)
    timeout = settings.redis_timeout_seconds
    return Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        protocol=2,
        socket_connect_timeout=timeout,
        # a blocking XREAD waits server-side; its socket timeout is set per call by the reader
        socket_timeout=None if blocking_reads else timeout,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        max_connections=256,
        connection_class=FastSSLConnection if settings.redis_url.startswith("rediss://") else FastConnection,
    )
