"""Benchmark d: the funding Lua script alone, through redis-py pipelined, beside redis-benchmark
running EVALSHA of the same rendered script (the ceiling: a C client, no Python in the way).

The commands come from the app's own wrappers (finance.scripts.Scripts), called with a recording
stand-in for the Redis client, so KEYS and ARGV are exactly what the server would send; the script
source and sha are the rendered ones (key functions + prelude + script) that Scripts loads.

redis-benchmark cannot count; it substitutes a random 12-digit number for __rand_int__ in each
command. Invoices for it are named bench<12 digits> and drawn at random from a pool four times the
number of requests, so about 88% of its calls fund a listed invoice and the rest are the cheaper
invoice_not_listed refusal; the result counts the fundings that really happened.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from finance import ids
from finance.clock import Instant, iso_from_ms
from finance.connection import connect
from finance.market import Market
from finance.scripts import Scripts
from finance.settings import Settings

REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
PIPELINE_DEPTH = 100
INVOICE_AMOUNT = 100_000
ASK_AMOUNT = 95_000

Command = tuple[Any, ...]  # ("EVALSHA", sha, numkeys, *keys_and_args)


class RecordingClient:
    """Stands in for the Redis client of a Scripts: keeps each EVALSHA a wrapper sends, replies ok."""

    def __init__(self, real: Redis) -> None:
        self.commands: list[Command] = []
        self.connection_pool = real.connection_pool  # AsyncScript takes its encoder from here

    def register_script(self, source: str) -> AsyncScript:
        return AsyncScript(cast(Redis, self), source)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> list[str]:
        self.commands.append(("EVALSHA", sha, numkeys, *keys_and_args))
        return ["ok", "{}"]

    def take(self) -> Command:
        return self.commands.pop()


@dataclass
class LuaPlan:
    python_fundings: int = 20_000
    benchmark_requests: int = 20_000
    benchmark_clients: int = 50
    benchmark_pipeline: int = 16
    python_connections: int = 2


class FundingBench:
    def __init__(self, redis_url: str, plan: LuaPlan) -> None:
        self.plan = plan
        self.settings = Settings.from_env({"REDIS_URL": redis_url})
        self.redis = connect(self.settings)
        self.market = Market.create(self.redis, self.settings)
        self.scripts: Scripts = self.market.scripts
        self.recorder = RecordingClient(self.redis)
        self.recording = Scripts(cast(Redis, self.recorder), self.market.keys, self.settings)
        self.now = self.market.clock.now()
        self.port = urlsplit(redis_url).port or 6379

    async def close(self) -> None:
        await self.redis.aclose()

    async def load_scripts(self) -> None:
        for script in self.scripts.by_name.values():
            await self.redis.script_load(script.source)

    async def pipelined(self, commands: list[Command], connections: int) -> tuple[list[Any], float]:
        """Send commands in pipelines of PIPELINE_DEPTH over `connections` concurrent connections."""
        batches = [commands[i : i + PIPELINE_DEPTH] for i in range(0, len(commands), PIPELINE_DEPTH)]
        replies: list[Any] = []

        async def worker(mine: list[list[Command]]) -> None:
            for batch in mine:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for command in batch:
                        pipe.execute_command(*command)
                    replies.extend(await pipe.execute(raise_on_error=False))

        started = time.perf_counter()
        await asyncio.gather(*(worker(batches[i::connections]) for i in range(connections)))
        return replies, time.perf_counter() - started

    async def user(self, role: str, index: int) -> str:
        user_id = ids.user_id()
        name = f"Bench {role} {index}"
        fields = {"id": user_id, "email": f"bench-{user_id}@example.test", "name": name, "role": role,
                  "company": "", "displayName": name}  # fmt: skip
        await self.scripts.register_user(fields, "not-a-password-hash", self.now)
        return user_id

    def invoice(self, invoice_id: str, seller_id: str, buyer_id: str) -> dict[str, Any]:
        due_ms = self.now.epoch_ms + 90 * 86_400_000
        return {"id": invoice_id, "invoiceNumber": f"N-{invoice_id}", "sellerId": seller_id, "seller": "Bench Seller",
                "buyerId": buyer_id, "amount": INVOICE_AMOUNT, "askAmount": ASK_AMOUNT,
                "dueDate": iso_from_ms(due_ms), "dueAt": due_ms, "description": ""}  # fmt: skip

    async def create_invoices(self, invoice_ids: list[str], sellers: list[str], buyer: str) -> None:
        commands = []
        for index, invoice_id in enumerate(invoice_ids):
            invoice = self.invoice(invoice_id, sellers[index % len(sellers)], buyer)
            await self.recording.create_invoice(invoice, self.now)
            commands.append(self.recorder.take())
        replies, _ = await self.pipelined(commands, 4)
        failed = [r for r in replies if not (isinstance(r, list) and r[0] == "ok")]
        if failed:
            raise RuntimeError(f"creating bench invoices failed: {failed[:3]}")

    async def fund_command(self, invoice_id: str, investor: str, now: Instant) -> Command:
        await self.recording.fund_invoice(invoice_id, investor, "Bench Investor", ids.investment_id(), ASK_AMOUNT, now)
        return self.recorder.take()

    async def listed_count(self) -> int:
        return int(await self.redis.zcard(self.market.keys.listed_indexes()[0]))

    async def run(self) -> dict[str, Any]:
        plan = self.plan
        await self.load_scripts()
        sellers = [await self.user("seller", i) for i in range(8)]
        buyer = await self.user("buyer", 0)
        investor = await self.user("investor", 0)
        await self.scripts.deposit_funds(investor, 10**14, self.now)

        python_ids = [f"py{n:012d}" for n in range(plan.python_fundings)]
        pool_size = plan.benchmark_requests * 4
        benchmark_ids = [f"bench{n:012d}" for n in range(pool_size)]
        setup_started = time.perf_counter()
        await self.create_invoices(python_ids + benchmark_ids, sellers, buyer)
        setup_s = time.perf_counter() - setup_started

        commands = [await self.fund_command(invoice_id, investor, self.now) for invoice_id in python_ids]
        replies, python_s = await self.pipelined(commands, plan.python_connections)
        python_ok = sum(1 for r in replies if isinstance(r, list) and r[0] == "ok")

        template = await self.fund_command(benchmark_ids[0], investor, self.now)
        argv = [str(part).replace(benchmark_ids[0], "bench__rand_int__") for part in template]
        listed_before = await self.listed_count()
        benchmark = run_redis_benchmark(self.port, argv, plan, pool_size)
        benchmark_ok = listed_before - await self.listed_count()
        benchmark_rps = benchmark["requests_per_s"]
        benchmark_s = plan.benchmark_requests / benchmark_rps if benchmark_rps else math.nan
        python_rps = python_ok / python_s
        ceiling_rps = benchmark_ok / benchmark_s if benchmark_rps else None
        return {
            "script": "fund_invoice",
            "sha": template[1],
            "keys": template[2],
            "setup_invoices": len(python_ids) + len(benchmark_ids),
            "setup_s": round(setup_s, 2),
            "python": {
                "fundings": python_ok,
                "calls": len(commands),
                "seconds": round(python_s, 3),
                "fundings_per_s": round(python_rps, 1),
                "pipeline_depth": PIPELINE_DEPTH,
                "connections": plan.python_connections,
            },
            "redis_benchmark": {
                **benchmark,
                "fundings": benchmark_ok,
                "refusals": plan.benchmark_requests - benchmark_ok,
                "fundings_per_s": round(ceiling_rps, 1) if ceiling_rps else None,
                "clients": plan.benchmark_clients,
                "pipeline": plan.benchmark_pipeline,
            },
            "python_share_of_ceiling": round(python_rps / ceiling_rps, 3) if ceiling_rps else None,
        }


def run_redis_benchmark(port: int, argv: list[str], plan: LuaPlan, pool_size: int) -> dict[str, Any]:
    command = [
        REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(port), "-n", str(plan.benchmark_requests),
        "-r", str(pool_size), "-c", str(plan.benchmark_clients), "-P", str(plan.benchmark_pipeline),
        "--csv", *argv,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {completed.stderr or completed.stdout}")
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    header = [cell.strip('"') for cell in lines[0].split(",")]
    values = [cell.strip('"') for cell in lines[-1].split(",")]
    row = dict(zip(header, values, strict=False))
    return {
        "requests": plan.benchmark_requests,
        "requests_per_s": float(row.get("rps", "nan")),
        "p50_ms": float(row.get("p50_latency_ms", "nan")),
        "p99_ms": float(row.get("p99_latency_ms", "nan")),
    }


async def measure_lua(redis_url: str, plan: LuaPlan) -> dict[str, Any]:
    bench = FundingBench(redis_url, plan)
    try:
        return await bench.run()
    finally:
        await bench.close()
