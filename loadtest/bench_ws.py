"""Benchmarks b and c: event fan-out latency to N WebSocket clients, and memory per idle socket.

Both run the same way against the app and against the bare Quart baseline: the lean clients of
wsclients.py connect first; then one HTTP request per event triggers a broadcast to every socket
(the app: an invoice created, whose `newInvoiceListed` goes to the market stream; the baseline:
POST /broadcast), paced at a fixed rate. Latency (a) runs from sending that request to receipt.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtest.api import Api, User
from loadtest.events import BROADCAST, CREATE, TriggerLog, latency_samples
from loadtest.scenario import due_date, ws_url
from loadtest.servers import Managed, tree_cpu_s, tree_rss_kb
from loadtest.stats import summarize
from loadtest.wsclients import WsClientPool

# A trigger sends one request and returns (trigger kind, key, send time) or None on failure.
Trigger = Callable[[int], Awaitable[tuple[str, str, float] | None]]


@dataclass
class FanoutPlan:
    clients: int
    events: int = 60
    warmup_events: int = 5
    rate_per_s: float = 5.0
    client_processes: int = 2
    drain_s: float = 10.0
    deflate: bool = False
    source_hosts: list[str] | None = None  # source addresses for the client processes (loadtest/scale.py)
    connect_concurrency: int = 64  # per client process


def baseline_trigger(session: aiohttp.ClientSession, base_url: str) -> Trigger:
    async def trigger(seq: int) -> tuple[str, str, float] | None:
        sent_at = time.time()
        async with session.post(f"{base_url}/broadcast", json={"seq": seq}) as reply:
            await reply.read()
            return (BROADCAST, str(seq), sent_at) if reply.status == 200 else None

    return trigger


def app_trigger(api: Api, seller: User, buyer: User, run_id: str) -> Trigger:
    async def trigger(seq: int) -> tuple[str, str, float] | None:
        body = {
            "invoiceNumber": f"BENCH-{run_id}-{seq}",
            "buyerId": buyer.id,
            "amount": 10_000_000,
            "askAmount": 9_500_000,
            "dueDate": due_date(90),
        }
        response = await api.create_invoice(seller, body)
        if not response.ok:
            return None
        return CREATE, str(response.body["invoice"]["id"]), response.sent_at

    return trigger


async def measure_fanout(urls: list[str], trigger: Trigger, plan: FanoutPlan,
                         server_pid: int | None = None,
                         on_connected: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Latency of each measured broadcast to every socket; with ``server_pid``, the CPU the server's
    process tree spent from the first measured broadcast to the last receipt, per socket per broadcast.
    ``on_connected`` runs once every socket is open, before the first broadcast (its figures go under
    "connected_state")."""
    cpu_start = wall_start = 0.0
    pool = WsClientPool(urls, plan.client_processes, connect_concurrency=plan.connect_concurrency, lifetime_s=900,
                        deflate=plan.deflate, source_hosts=plan.source_hosts)
    connected_state: dict[str, Any] = {}
    try:
        connect_started = time.monotonic()
        connected = await pool.start(timeout_s=600)
        connect_s = time.monotonic() - connect_started
        if on_connected is not None:
            connected_state = await on_connected()
        triggers, warmup = TriggerLog(), TriggerLog()
        failures = 0
        started = time.monotonic()
        for seq in range(plan.warmup_events + plan.events):
            # pace by schedule, not by response, so a slow server cannot slow the offered rate
            await asyncio.sleep(max(0.0, started + seq / plan.rate_per_s - time.monotonic()))
            if seq == plan.warmup_events and server_pid is not None:
                cpu_start, wall_start = tree_cpu_s(server_pid), time.monotonic()
            fired = await trigger(seq)
            if fired is None:
                failures += 1
                continue
            (warmup if seq < plan.warmup_events else triggers).record(*fired)
        frames_expected = (1 + plan.warmup_events + plan.events) * connected["connected"]  # 1: hello
        await _drain(pool, plan.drain_s, frames_expected)
        cpu_s = tree_cpu_s(server_pid) - cpu_start if server_pid is not None else None
        wall_s = time.monotonic() - wall_start
        result = await pool.stop(timeout_s=300)
    finally:
        pool.terminate()
    measured = [r for r in result.receipts if triggers.lookup(r.trigger) is not None]
    samples = latency_samples(measured, triggers)
    totals = result.totals()
    return {
        "clients": plan.clients,
        "connected": connected["connected"],
        "connect_errors": connected["errors"],
        "connect_s": round(connect_s, 2),
        "events": plan.events,
        "rate_per_s": plan.rate_per_s,
        "deflate_offered": plan.deflate,
        "trigger_failures": failures,
        "deliveries": samples.deliveries,
        "deliveries_expected": plan.events * connected["connected"],
        "trigger_to_receipt": summarize(samples.trigger_ms),
        "commit_to_receipt": summarize(samples.commit_ms),
        "server_cpu_s": round(cpu_s, 3) if cpu_s is not None else None,
        "server_cpu_share_of_one_core": round(cpu_s / wall_s, 3) if cpu_s is not None and wall_s else None,
        "server_cpu_us_per_socket_per_broadcast": (
            round(cpu_s * 1e6 / samples.deliveries, 2) if cpu_s is not None and samples.deliveries else None
        ),
        "client": totals,
        "connected_state": connected_state,
    }


async def _drain(pool: WsClientPool, drain_s: float, expected: int) -> None:
    """Until every expected frame arrived or the count stalled for 1 s; at most drain_s."""
    deadline = time.monotonic() + drain_s
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        current = pool.received()
        if current >= expected:
            return
        if current != last:
            last, last_change = current, time.monotonic()
        elif time.monotonic() - last_change > 1.0:
            return
        await asyncio.sleep(0.2)


async def measure_idle_memory(
    server: Managed, urls: list[str], client_processes: int, deflate: bool = False
) -> dict[str, Any]:
    """RSS of the server's process tree before and after opening len(urls) idle sockets
    (on a server that has not held sockets before: freed memory is not returned to the OS)."""
    gc.collect()
    await asyncio.sleep(1.0)
    before = tree_rss_kb(server.process.pid)
    pool = WsClientPool(urls, client_processes, connect_concurrency=64, lifetime_s=600, deflate=deflate)
    try:
        connected = await pool.start(timeout_s=300)
        await asyncio.sleep(3.0)  # let the server settle (lazy allocations, GC)
        after = tree_rss_kb(server.process.pid)
        closed = await pool.stop(timeout_s=120)
    finally:
        pool.terminate()
    delta_kb = sum(after.values()) - sum(before.values())
    count = connected["connected"]
    return {
        "sockets": len(urls),
        "connected": count,
        "deflate_offered": deflate,
        "deflate_accepted": closed.totals()["deflate_accepted"],
        "rss_before_kb": before,
        "rss_after_kb": after,
        "rss_delta_kb": delta_kb,
        "kb_per_socket": round(delta_kb / count, 2) if count else None,
    }


def socket_urls(base_url: str, tokens: list[str], count: int) -> list[str]:
    return [ws_url(base_url, tokens[i % len(tokens)]) for i in range(count)]
