"""REPLICA_ACKS=N: a money movement answers only once N replicas confirmed it (WAIT on the script's own
connection). A replica that does not answer in time: 503 replication_unconfirmed; the client's retry
with the same Idempotency-Key answers the first result once the replica is back, and moves nothing twice.

The replica is stopped with SIGSTOP (as a replica that hangs: it keeps its connections, acknowledges
nothing) and resumed with SIGCONT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from quart import Quart

from app import create_app
from finance.scripts import ACKNOWLEDGED_SCRIPTS, UNACKNOWLEDGED_SCRIPTS, script_names
from tests.conftest import TEST_SETTINGS
from tests.helpers.api import Actor, balance, create_invoice, deposit, error_code, register
from tests.helpers.redis_cluster import RedisCluster
from tests.helpers.redis_process import RedisProcess

pytestmark = pytest.mark.real_redis

ACKS_TIMEOUT_MS = 1_000  # a replica on this machine answers in well under 1 ms; the suite may load it for long


def test_every_script_is_acknowledged_or_says_why_not() -> None:
    assert ACKNOWLEDGED_SCRIPTS.isdisjoint(UNACKNOWLEDGED_SCRIPTS)
    assert ACKNOWLEDGED_SCRIPTS | set(UNACKNOWLEDGED_SCRIPTS) == set(script_names())


class Pair:
    """A primary and its replica."""

    def __init__(self) -> None:
        # a replica's first sync starts at once, not after Redis's default 5 s wait for more replicas
        self.primary = RedisProcess(extra_args=("--repl-diskless-sync-delay", "0"))
        self.primary.start()
        self.replica = RedisProcess(extra_args=("--replicaof", "127.0.0.1", str(self.primary.port)))
        self.replica.start()
        wait_replica_in_sync(self.primary.port, self.replica.port)

    def close(self) -> None:
        self.replica.close()
        self.primary.close()


def wait_replica_in_sync(primary_port: int, replica_port: int, seconds: float = 15) -> None:
    """Until the replica's link is up and it has everything the primary has written."""
    primary = redis.Redis(port=primary_port, decode_responses=True)
    replica = redis.Redis(port=replica_port, decode_responses=True)
    deadline = time.monotonic() + seconds
    try:
        while True:
            with contextlib.suppress(redis.RedisError):
                if replica.info("replication").get("master_link_status") == "up" and \
                        primary.execute_command("WAIT", 1, 100) >= 1:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not catch up")
            time.sleep(0.05)
    finally:
        primary.close()
        replica.close()


@contextlib.contextmanager
def hung(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the block, then resumed."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture
def pair() -> Iterator[Pair]:
    servers = Pair()
    yield servers
    servers.close()


def acks_app(redis_url: str, **overrides: Any) -> Quart:
    settings = replace(TEST_SETTINGS, redis_url=redis_url, replica_acks=1, replica_acks_timeout_ms=ACKS_TIMEOUT_MS,
                       **overrides)
    return create_app(settings)


async def post_with_key(client: Any, path: str, actor: Actor, key: str, body: Any) -> Any:
    return await client.post(path, json=body, headers={**actor.headers, "Idempotency-Key": key})


def replica_balance(port: int, market_key: str) -> int:
    client = redis.Redis(port=port, decode_responses=True)
    try:
        return int(client.hget(market_key, "balance") or 0)
    finally:
        client.close()


async def test_with_a_replica_movements_answer_2xx(pair: Pair) -> None:
    app = acks_app(pair.primary.url)
    async with app.test_app():
        client = app.test_client()
        investor = await register(client, "investor")
        await deposit(client, investor, 1_000)
        keys = app.extensions["market"].keys
        # answered only once the replica had it: it is there the moment the answer is
        assert replica_balance(pair.replica.port, keys.wallet(investor.id)) == 1_000


async def test_unconfirmed_movement_is_503_and_the_retry_answers_the_first_result_once(pair: Pair) -> None:
    app, other_worker = acks_app(pair.primary.url), acks_app(pair.primary.url)
    async with app.test_app(), other_worker.test_app():
        client, other_client = app.test_client(), other_worker.test_client()
        # the other worker's connections exist before the movement and wrote before it, so its retry
        # comes on a connection whose own last write the replica already has
        investor = await register(other_client, "investor")
        await deposit(client, investor, 1_000)
        keys = app.extensions["market"].keys
        assert pair.replica.process is not None
        with hung(pair.replica.process.pid):
            started = time.monotonic()
            response = await post_with_key(client, "/api/wallet/deposit", investor, "k-1", {"amount": 500})
            assert (response.status_code, await error_code(response)) == (503, "replication_unconfirmed")
            assert response.headers["Retry-After"] == "1"
            assert time.monotonic() - started >= ACKS_TIMEOUT_MS / 1000
            # the movement stands on the primary; the replica has not got it
            assert await balance(client, investor) == 1_500
            # a retry still unconfirmed is 503 again, also on another worker's connections (the replay
            # itself writes, so its WAIT covers the first answer's write)
            for retry_client in (client, other_client):
                again = await post_with_key(retry_client, "/api/wallet/deposit", investor, "k-1", {"amount": 500})
                assert (again.status_code, await error_code(again)) == (503, "replication_unconfirmed")
        wait_replica_in_sync(pair.primary.port, pair.replica.port)
        retried = await post_with_key(other_client, "/api/wallet/deposit", investor, "k-1", {"amount": 500})
        assert retried.status_code == 200, await retried.get_data(as_text=True)
        first = await retried.get_json()
        assert (first["wallet"]["balance"], first["transaction"]["amount"]) == (1_500, 500)
        again = await post_with_key(client, "/api/wallet/deposit", investor, "k-1", {"amount": 500})
        assert (again.status_code, await again.get_json()) == (200, first)
        assert await balance(client, investor) == 1_500
        page = await (await client.get("/api/wallet/transactions?limit=10", headers=investor.headers)).get_json()
        assert [row["amount"] for row in page["transactions"]] == [500, 1_000]
        assert replica_balance(pair.replica.port, keys.wallet(investor.id)) == 1_500


async def test_a_refusal_answers_as_it_is_without_replicas(pair: Pair) -> None:
    """A refusal moved nothing, so it needs no replica: 409, not 503."""
    app = acks_app(pair.primary.url)
    async with app.test_app():
        client = app.test_client()
        investor = await register(client, "investor")
        assert pair.replica.process is not None
        with hung(pair.replica.process.pid):
            response = await client.post("/api/wallet/withdraw", json={"amount": 5}, headers=investor.headers)
            assert (response.status_code, await error_code(response)) == (409, "insufficient_funds")


async def test_on_the_cluster_a_funding_waits_for_the_masters_replica(redis_cluster: RedisCluster) -> None:
    master = redis_cluster.masters()[1]
    market = redis_cluster.market_on(master, "acks")
    (replica,) = redis_cluster.replicas_of(master)
    app = acks_app(redis_cluster.url, redis_cluster=True, market=market)
    async with app.test_app():
        client = app.test_client()
        seller, buyer = await register(client, "seller"), await register(client, "buyer")
        investor = await register(client, "investor")
        await deposit(client, investor, 1_000_000)
        invoice = await create_invoice(client, seller, buyer, amount=500_000, ask_amount=450_000)
        path = f"/api/invoices/{invoice['id']}/fund"
        assert replica.process is not None
        with hung(replica.process.pid):
            response = await post_with_key(client, path, investor, "fund-1", {"amount": 460_000})
            assert (response.status_code, await error_code(response)) == (503, "replication_unconfirmed")
        deadline = time.monotonic() + 15
        while True:
            retried = await post_with_key(client, path, investor, "fund-1", {"amount": 460_000})
            if retried.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)  # the replica reconnects to its master after the pause
        assert retried.status_code == 200, await retried.get_data(as_text=True)
        body = await retried.get_json()
        assert (body["invoice"]["status"], body["investment"]["amount"], body["wallet"]["balance"]) == (
            "funded", 460_000, 540_000)
        assert await balance(client, investor) == 540_000
        assert await balance(client, seller) == 460_000
        on_replica = replica.client()
        try:
            on_replica.execute_command("READONLY")
            wallet = app.extensions["market"].keys.wallet(investor.id)
            assert int(on_replica.hget(wallet, "balance")) == 540_000
        finally:
            on_replica.close()
