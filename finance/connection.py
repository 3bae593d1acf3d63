"""Redis connections, made in one place.

``REDIS_URL`` unset -> an in-process fakeredis with Lua (one process, nothing persisted).
``redis://`` / ``rediss://`` -> a real server, on RESP2 with pooled connections that are health-checked
and retried, so stale connections left by a Redis restart are replaced instead of failing requests
(RESP3 plus health checks has had a pool bug in redis-py 8, redis/redis-py#4252, so we stay on RESP2).
``REDIS_CLUSTER=1`` -> redis-py's cluster client, seeded by the node REDIS_URL names. Every key of a
market carries its hash tag, so every command, script and pipeline of one market goes to one slot's
master. Two things need one node's connection and not just its slot: the stream reader (its CLIENT
ID, blocking XREAD and the CLIENT UNBLOCK that wakes it: ``SlotNode``) and WAIT after a script
(``pinned``), since WAIT counts the writes of the connection it is sent on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import hiredis
from redis.asyncio import BlockingConnectionPool, Connection, Redis, RedisCluster, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AskError,
    ClusterDownError,
    RedisClusterUnreachableError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from finance.keys import Keys
from finance.settings import Settings

# errors that mean "Redis is away", answered with 503 redis_unavailable: on a cluster also a slot whose
# master is failing over (no node serves it yet, or the cluster says it is down or moving)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError, RedisTimeoutError, OSError, ClusterDownError, TryAgainError, SlotNotCoveredError,
    RedisClusterUnreachableError,
)
# connections of one client's pool (each process has a few clients: the market's, the hub reader's)
POOL_CONNECTIONS_MAX = 256
# a node answered that the slot is now another node's (MOVED is an AskError): the topology must be read again
REDIRECT_ERRORS: tuple[type[Exception], ...] = (AskError,)


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
    if settings.redis_cluster:
        return _connect_cluster(settings, blocking_reads)
    return _connect_one(settings, settings.redis_url, blocking_reads)


def _connect_one(settings: Settings, url: str, blocking_reads: bool) -> Redis:
    timeout = settings.redis_timeout_seconds
    # a blocking pool: past max_connections commands in flight, a command waits for a connection (up to
    # the timeout) instead of failing at once with "Too many connections", as the default pool does; a
    # burst of thousands of socket handshakes at once is ordinary here
    pool = BlockingConnectionPool.from_url(
        url,
        timeout=timeout,
        decode_responses=True,
        protocol=2,
        socket_connect_timeout=timeout,
        # a blocking XREAD waits server-side; its socket timeout is set per call by the reader
        socket_timeout=None if blocking_reads else timeout,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        max_connections=POOL_CONNECTIONS_MAX,
        connection_class=FastSSLConnection if settings.redis_url.startswith("rediss://") else FastConnection,
    )
    return Redis.from_pool(pool)


def cluster_client(settings: Settings) -> RedisCluster:
    """redis-py's cluster client, seeded by the node REDIS_URL names (it learns the others from it)."""
    timeout = settings.redis_timeout_seconds
    return RedisCluster.from_url(
        settings.redis_url,
        decode_responses=True,
        protocol=2,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=15,
        # a failed node's slots are refreshed from the others and retried, briefly: a request during a
        # failover gets its 503 within about a second, not after the whole election
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2),
        # one market's slot failing over must not stop the client serving the other markets
        require_full_coverage=False,
        max_connections=POOL_CONNECTIONS_MAX,
    )


def _connect_cluster(settings: Settings, blocking_reads: bool) -> Redis:
    if blocking_reads:
        return cast(Redis, SlotNode(settings, Keys(settings.market).market_stream()))
    # the cluster client answers every command this code sends (each of one market, so one slot); it is
    # typed as Redis so that the callers need not know which they hold
    return cast(Redis, cluster_client(settings))


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster)


class SlotNode:
    """A plain client to the master of one key's slot, for the stream reader: its CLIENT ID, its blocking
    XREAD and the CLIENT UNBLOCK that wakes it must all reach that one node (the cluster client would
    send CLIENT ID and CLIENT UNBLOCK to any node). After a connection error or a redirect it asks the
    cluster for the slot's master again, so the reader follows a failover without a restart."""

    def __init__(self, settings: Settings, key: str) -> None:
        self.settings = settings
        self.key = key
        self.cluster = cluster_client(settings)
        self.node: Redis | None = None
        self.address: tuple[str, int] | None = None

    async def _current(self) -> Redis:
        if self.node is None:
            await self.cluster.initialize()
            found = self.cluster.get_node_from_key(self.key)
            if found is None:
                raise RedisConnectionError(f"no node serves the slot of {self.key}")
            self.address = (found.host, int(found.port))
            scheme = urlsplit(self.settings.redis_url).scheme
            self.node = _connect_one(self.settings, f"{scheme}://{found.host}:{found.port}/0", blocking_reads=True)
        return self.node

    async def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        node = await self._current()
        try:
            return await getattr(node, command)(*args, **kwargs)
        except (*UNAVAILABLE_ERRORS, *REDIRECT_ERRORS) as error:
            await self._forget()
            raise RedisConnectionError(f"the node of {self.key}'s slot: {error}") from error
        except ResponseError as error:
            # a master turned replica (a planned failover) ends the XREAD blocked on it with UNBLOCKED
            if not str(error).startswith("UNBLOCKED"):
                raise
            await self._forget()
            raise RedisConnectionError(f"the node of {self.key}'s slot changed role: {error}") from error

    async def _forget(self) -> None:
        """Drop the node's client and read the slot map again on the next call."""
        node, self.node = self.node, None
        if node is not None:
            await node.aclose()
        # initialize() reads the topology again only once a refresh was asked for
        self.cluster._request_refresh()

    async def client_id(self) -> int:
        return int(await self._call("client_id"))

    async def client_unblock(self, client_id: int) -> Any:
        return await self._call("client_unblock", client_id)

    async def xread(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("xread", *args, **kwargs)

    async def aclose(self) -> None:
        if self.node is not None:
            await self.node.aclose()
        await self.cluster.aclose()


@asynccontextmanager
async def pinned(redis: Redis, key: str) -> AsyncIterator[Connection]:
    """One connection to the master of ``key``'s slot, held for several commands: WAIT counts the
    writes of the connection it is sent on, so it must follow its script on the same one. A connection
    that failed is closed (and, on a cluster, the slot map read again before the next command)."""
    if is_cluster(redis):
        cluster = cast(RedisCluster, redis)
        await cluster.initialize()
        node = cluster.get_node_from_key(key)
        connection = node.acquire_connection()
        try:
            await node.disconnect_if_needed(connection)
            yield connection
        except BaseException as error:
            await connection.disconnect()
            if isinstance(error, (*UNAVAILABLE_ERRORS, *REDIRECT_ERRORS)):
                cluster._request_refresh(last_failed_node_name=node.name)
            raise
        finally:
            node.release(connection)
        return
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        yield connection
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
