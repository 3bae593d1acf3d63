"""The Redis pool under a burst: more commands in flight than it has connections wait their turn."""

from __future__ import annotations

import asyncio

from finance.connection import POOL_CONNECTIONS_MAX, connect
from tests.conftest import Backend


async def test_a_burst_past_the_pools_connections_waits_for_them_instead_of_failing(real_backend: Backend) -> None:
    # thousands of sockets connecting at once each make a few Redis calls: with the default pool the calls
    # past its max_connections failed at once ("Too many connections") and their sockets were refused
    redis = connect(real_backend.settings())
    try:
        burst = 4 * POOL_CONNECTIONS_MAX
        replies = await asyncio.gather(*(redis.incr("burst") for _ in range(burst)))
        assert sorted(replies) == list(range(1, burst + 1))
        pool = redis.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) <= POOL_CONNECTIONS_MAX
    finally:
        await redis.aclose()
