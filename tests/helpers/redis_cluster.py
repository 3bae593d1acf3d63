"""The session's local Redis Cluster (loadtest/redis_cluster.py: 6 nodes, 3 masters with a replica each)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtest.redis_cluster import RedisCluster

__all__ = ["RedisCluster", "redis_cluster"]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One local cluster for the session's cluster tests; every node is stopped at the end. Tests that
    kill or pause nodes make a cluster of their own."""
    cluster = RedisCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
