"""REDIS_CLUSTER=1: two markets whose hash tags live on different masters of a real local cluster, an
app each, the whole money flow with its WebSocket events, and the ledger check through the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest
from quart import Quart

from app import create_app
from finance.connection import SlotNode
from finance.keys import Keys
from tests.conftest import TEST_SETTINGS
from tests.helpers.api import Trio, balance, create_invoice, deposit, fund, register, repay, trio
from tests.helpers.redis_cluster import RedisCluster
from tests.helpers.servers import ROOT, events, frames, market_of, next_frame

pytestmark = pytest.mark.real_redis


def cluster_app(cluster: RedisCluster, market: str, **overrides: Any) -> Quart:
    settings = replace(TEST_SETTINGS, redis_url=cluster.url, redis_cluster=True, market=market, **overrides)
    return create_app(settings)


def check_ledger(cluster: RedisCluster, market: str) -> str:
    """``python -m finance check`` against the cluster, as an operator runs it; its output."""
    env = {**os.environ, "REDIS_URL": cluster.url, "REDIS_CLUSTER": "1", "MARKET": market}
    done = subprocess.run([sys.executable, "-m", "finance", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def run_market(app: Quart) -> tuple[Trio, list[dict[str, Any]], list[dict[str, Any]]]:
    """The whole flow in one market: the seller's and the investor's socket frames after hello."""
    client = app.test_client()
    t = await trio(client, investor_money=1_000_000)
    async with client.websocket(f"/ws?token={t.seller.token}") as seller_ws, \
            client.websocket(f"/ws?token={t.investor.token}") as investor_ws:
        assert (await next_frame(seller_ws))["type"] == "hello"
        assert (await next_frame(investor_ws))["type"] == "hello"
        invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
        response = await fund(client, t.investor, invoice["id"], 470_000)
        assert response.status_code == 200, await response.get_data(as_text=True)
        await deposit(client, t.buyer, 600_000)
        response = await repay(client, t.buyer, invoice["id"])
        assert response.status_code == 200, await response.get_data(as_text=True)
        # the market's listed, funded and repaid updates, and each user's own events
        seller_frames = await frames(seller_ws, 6)
        investor_frames = await frames(investor_ws, 7)
    assert await balance(client, t.seller) == 470_000
    assert await balance(client, t.investor) == 1_030_000
    assert await balance(client, t.buyer) == 100_000
    return t, seller_frames, investor_frames


async def test_two_markets_on_different_masters_each_work(redis_cluster: RedisCluster) -> None:
    first_master, second_master = redis_cluster.masters()[:2]
    markets = [redis_cluster.market_on(first_master, "east"), redis_cluster.market_on(second_master, "west")]
    assert redis_cluster.master_of(markets[0]) is first_master
    assert redis_cluster.master_of(markets[1]) is second_master
    apps = [cluster_app(redis_cluster, market) for market in markets]
    async with apps[0].test_app(), apps[1].test_app():
        results = await asyncio.gather(*(run_market(app) for app in apps))
        for app, market in zip(apps, markets, strict=True):
            assert market_of(app).keys.market == market
            reader = app.extensions["hub"].reader
            assert isinstance(reader.redis, SlotNode) and reader.control is reader.redis
    for _, seller_frames, investor_frames in results:
        market = ["newInvoiceListed", "invoiceUpdated", "invoiceUpdated"]
        assert (events(seller_frames, "market"), events(seller_frames, "user")) == (
            market, ["walletUpdated", "invoiceFunded", "invoiceRepaid"])
        assert (events(investor_frames, "market"), events(investor_frames, "user")) == (
            market, ["walletUpdated", "investmentSuccess", "walletUpdated", "invoiceRepaid"])
    # each market's keys live on its own master only, and each ledger holds
    for market, master, other in ((markets[0], first_master, second_master),
                                  (markets[1], second_master, first_master)):
        on_master, on_other = (node.client() for node in (master, other))
        try:
            assert on_master.keys(f"*{{{market}}}*")
            assert on_other.keys(f"*{{{market}}}*") == []
        finally:
            on_master.close()
            on_other.close()
        report = check_ledger(redis_cluster, market)
        assert "checked 3 wallets" in report and "1 invoices" in report and "ledger OK" in report, report


async def test_the_stream_reader_blocks_and_is_woken_on_the_master_of_its_market(redis_cluster: RedisCluster) -> None:
    """CLIENT ID, the blocking XREAD and CLIENT UNBLOCK all reach the slot's master (the cluster client
    would send the keyless CLIENT commands to any node, and the unblock would miss the reader)."""
    master = redis_cluster.masters()[2]
    market = redis_cluster.market_on(master, "south")
    settings = replace(TEST_SETTINGS, redis_url=redis_cluster.url, redis_cluster=True, market=market)
    reader = SlotNode(settings, Keys(market).market_stream())
    try:
        client_id = await reader.client_id()
        on_master = master.client()
        try:
            assert any(int(entry["id"]) == client_id for entry in on_master.client_list())
        finally:
            on_master.close()
        read = asyncio.create_task(reader.xread({Keys(market).market_stream(): "$"}, block=10_000))
        on_master = master.client()
        try:  # the master itself says when the reader is blocked (a sleep would guess)
            async with asyncio.timeout(5):
                while not any(  # noqa: ASYNC110 (a state of the server, polled)
                        int(entry["id"]) == client_id and entry["cmd"] == "xread" and "b" in entry["flags"]
                        for entry in on_master.client_list()):
                    await asyncio.sleep(0.01)
        finally:
            on_master.close()
        assert not read.done()
        waker = SlotNode(settings, Keys(market).market_stream())
        try:
            assert await waker.client_unblock(client_id) == 1
        finally:
            await waker.aclose()
        assert await asyncio.wait_for(read, 2) == []
    finally:
        await reader.aclose()


async def test_every_route_answers_on_the_cluster_with_replica_acks(redis_cluster: RedisCluster) -> None:
    """Each route once on the cluster client with REPLICA_ACKS=1 (every acknowledged script on its
    pinned connection, WATCH/MULTI pipelines, the stats and notification reads): each answers 2xx,
    and the ledger holds after."""
    market = redis_cluster.market_on(redis_cluster.masters()[0], "sweep")
    app = cluster_app(redis_cluster, market, replica_acks=1)
    async with app.test_app():
        client = app.test_client()
        t = await trio(client, investor_money=5_000_000)

        async def ok(method: str, path: str, actor: Any = None, body: Any = None, status: int = 200) -> Any:
            headers = actor.headers if actor is not None else {}
            if body is None:
                response = await client.open(path, method=method, headers=headers)
            else:
                response = await client.open(path, method=method, json=body, headers=headers)
            assert response.status_code == status, f"{method} {path}: {await response.get_data(as_text=True)}"
            return await response.get_json() if status != 204 else None

        await ok("POST", "/api/auth/login", body={"email": t.seller.email, "password": "correct-horse"})
        await ok("GET", "/api/users/profile", t.seller)
        whole = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
        await ok("POST", f"/api/invoices/{whole['id']}/fund", t.investor, {"amount": 470_000})
        await ok("GET", f"/api/invoices/{whole['id']}", t.investor)
        await deposit(client, t.buyer, 600_000)
        await ok("POST", f"/api/invoices/{whole['id']}/repay", t.buyer, {"amount": 100_000})
        await ok("POST", f"/api/invoices/{whole['id']}/repay", t.buyer)
        auction = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
        await ok("POST", f"/api/invoices/{auction['id']}/bids", t.investor, {"amount": 460_000})
        await ok("DELETE", f"/api/invoices/{auction['id']}/bids/mine", t.investor)
        await ok("POST", f"/api/invoices/{auction['id']}/bids", t.investor, {"amount": 465_000})
        bids = await ok("GET", f"/api/invoices/{auction['id']}/bids", t.seller)
        await ok("POST", f"/api/invoices/{auction['id']}/bids/{bids['bids'][0]['id']}/accept", t.seller)
        fractional = await create_invoice(client, t.seller, t.buyer, amount=1_000_000, ask_amount=900_000,
                                          minTicket=100_000)
        await ok("POST", f"/api/invoices/{fractional['id']}/fund", t.investor, {"claim": 200_000})
        cancelled = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
        await ok("POST", f"/api/invoices/{cancelled['id']}/cancel", t.seller)
        await ok("PUT", f"/api/users/limits/{t.buyer.id}", t.investor, {"amount": 9_000_000})
        await ok("GET", "/api/users/limits", t.investor)
        await ok("DELETE", f"/api/users/limits/{t.buyer.id}", t.investor, status=204)
        for actor in (t.seller, t.investor, t.buyer):
            await ok("GET", "/api/users/dashboard", actor)
            await ok("GET", f"/api/invoices/{actor.role}", actor)
            await ok("GET", "/api/wallet/transactions?limit=5", actor)
            notifications = await ok("GET", "/api/users/notifications?limit=5", actor)
            if notifications["notifications"]:
                await ok("POST", "/api/users/notifications/read", actor,
                         {"upTo": notifications["notifications"][0]["id"]})
        await ok("GET", "/api/users/portfolio", t.investor)
        await ok("GET", "/api/invoices/marketplace?sort=amount&limit=5", t.investor)
        await ok("POST", "/api/wallet/withdraw", t.investor, {"amount": 1_000})
        await ok("POST", "/api/auth/logout", t.seller, status=204)
        await ok("GET", "/health")
    assert "ledger OK" in check_ledger(redis_cluster, market)


async def test_a_planned_failover_is_followed_without_a_failed_request(redis_cluster: RedisCluster,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """CLUSTER FAILOVER on the replica: it becomes master and the old master its replica, with no
    connection lost. The app's next script meets MOVED on the old master, reads the slot map again and
    runs on the new one; the stream reader, blocked on the old master, follows too. Nothing answers 503."""
    master = redis_cluster.masters()[2]
    market = redis_cluster.market_on(master, "planned")
    app = cluster_app(redis_cluster, market, replica_acks=1)
    async with app.test_app():
        client = app.test_client()
        investor = await register(client, "investor")
        await deposit(client, investor, 1_000)
        async with client.websocket(f"/ws?token={investor.token}") as ws:
            assert (await next_frame(ws))["type"] == "hello"
            (replica,) = redis_cluster.replicas_of(master)
            on_replica = replica.client()
            try:
                assert on_replica.execute_command("CLUSTER", "FAILOVER") == "OK"
            finally:
                on_replica.close()
            new_master = await asyncio.to_thread(redis_cluster.wait_master_is_not, market, master)
            assert new_master is replica
            await asyncio.to_thread(redis_cluster.wait_replicas, new_master)
            for amount in (1, 2, 3):
                await deposit(client, investor, amount)
            received = await frames(ws, 3)
        assert [frame["data"]["balance"] for frame in received] == [1_001, 1_003, 1_006]
        assert await balance(client, investor) == 1_006
    assert "ledger OK" in check_ledger(redis_cluster, market)
    # the reader took the UNBLOCKED of its old master for the role change it is, not for a bug
    assert [record.message for record in caplog.records if record.levelno >= logging.ERROR] == []
