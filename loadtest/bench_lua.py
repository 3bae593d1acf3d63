"""Benchmark d: the funding Lua script alone, through redis-py pipelined, beside redis-benchmark
running EVALSHA of the same rendered script (the ceiling: a C client, no Python in the way).

The commands come from the app's own wrappers (finance.scripts.Scripts), called with a recording
stand-in for the Redis client, so KEYS and ARGV are exactly what the server would send; the script
source and sha are the rendered ones (key functions + prelude + script) that Scripts loads. The
session the scripts check is the user's hash, as the operator commands pass it.

redis-benchmark cannot count; it substitutes a random 12-digit number for __rand_int__ in each
command. Its invoices are named rb<round>x<12 digits> and drawn at random from a pool four times the
number of requests, so about 88% of its calls fund a listed invoice and the rest are the cheaper
invoice_not_listed refusal; the result counts the fundings that really happened.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import statistics
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

REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
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
    rounds: int = 3


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

    def session(self, user_id: str) -> str:
        """The session key the money scripts check: the user hash, as operator commands pass."""
        return self.market.keys.user(user_id)

    async def user(self, role: str, index: int) -> str:
        user_id = ids.user_id()
        name = f"Bench {role} {index}"
        fields = {"id": user_id, "email": f"bench-{user_id}@example.test", "name": name, "role": role,
                  "company": "", "displayName": name}  # fmt: skip
        await self.scripts.register_user(user=fields, password_hash="not-a-password-hash", now=self.now)
        return user_id

    def invoice(self, invoice_id: str, seller_id: str, buyer_id: str) -> dict[str, Any]:
        due_ms = self.now.epoch_ms + 90 * 86_400_000
        return {"id": invoice_id, "invoiceNumber": f"N-{invoice_id}", "sellerId": seller_id, "seller": "Bench Seller",
                "buyerId": buyer_id, "amount": INVOICE_AMOUNT, "askAmount": ASK_AMOUNT,
                "dueDate": iso_from_ms(due_ms), "dueAt": due_ms, "description": "",
                "dueAtMax": due_ms + 86_400_000}  # fmt: skip

    async def create_invoices(self, invoice_ids: list[str], sellers: list[str], buyer: str) -> None:
        commands = []
        for index, invoice_id in enumerate(invoice_ids):
            invoice = self.invoice(invoice_id, sellers[index % len(sellers)], buyer)
            await self.recording.create_invoice(invoice=invoice, session_key=self.session(invoice["sellerId"]),
                                                now=self.now)
            commands.append(self.recorder.take())
        replies, _ = await self.pipelined(commands, 4)
        failed = [r for r in replies if not (isinstance(r, list) and r[0] == "ok")]
        if failed:
            raise RuntimeError(f"creating bench invoices failed: {failed[:3]}")

    async def fund_command(self, invoice_id: str, investor: str, now: Instant) -> Command:
        await self.recording.fund_invoice(
            invoice_id=invoice_id, investor_id=investor, session_key=self.session(investor),
            investor_name="Bench Investor", investment_id=ids.investment_id(), amount=ASK_AMOUNT, now=now,
        )
        return self.recorder.take()

    async def listed_count(self) -> int:
        return int(await self.redis.zcard(self.market.keys.listed_indexes()[0]))

    async def run(self) -> dict[str, Any]:
        """`rounds` alternations of the two sides, each on invoices of its own; medians reported,
        since on a shared two-core machine one round can be hit by a neighbour's burst."""
        plan = self.plan
        await self.load_scripts()
        sellers = [await self.user("seller", i) for i in range(8)]
        buyer = await self.user("buyer", 0)
        investor = await self.user("investor", 0)
        await self.scripts.deposit_funds(user_id=investor, session_key=self.session(investor), amount=10**14,
                                         now=self.now)

        pool_size = plan.benchmark_requests * 4
        python_ids = [[f"py{r}x{n:012d}" for n in range(plan.python_fundings)] for r in range(plan.rounds)]
        benchmark_ids = [[f"rb{r}x{n:012d}" for n in range(pool_size)] for r in range(plan.rounds)]
        setup_started = time.perf_counter()
        await self.create_invoices([i for ids_ in python_ids + benchmark_ids for i in ids_], sellers, buyer)
        setup_s = time.perf_counter() - setup_started

        python_rounds, benchmark_rounds = [], []
        for round_index in range(plan.rounds):
            python_rounds.append(await self.python_round(python_ids[round_index], investor))
            benchmark_rounds.append(await self.benchmark_round(benchmark_ids[round_index], investor, pool_size))
        python_rps = statistics.median(r["fundings_per_s"] for r in python_rounds)
        ceiling_rps = statistics.median(r["fundings_per_s"] for r in benchmark_rounds)
        return {
            "script": "fund_invoice",
            "sha": self.scripts.by_name["fund_invoice"].sha,
            "setup_invoices": sum(len(i) for i in python_ids + benchmark_ids),
            "setup_s": round(setup_s, 2),
            "rounds": plan.rounds,
            "python": {
                "fundings_per_s": round(python_rps, 1),
                "pipeline_depth": PIPELINE_DEPTH,
                "connections": plan.python_connections,
                "rounds": python_rounds,
            },
            "redis_benchmark": {
                "fundings_per_s": round(ceiling_rps, 1),
                "requests_per_s": statistics.median(r["requests_per_s"] for r in benchmark_rounds),
                "clients": plan.benchmark_clients,
                "pipeline": plan.benchmark_pipeline,
                "rounds": benchmark_rounds,
            },
            "python_share_of_ceiling": round(python_rps / ceiling_rps, 3) if ceiling_rps else None,
        }

    async def python_round(self, invoice_ids: list[str], investor: str) -> dict[str, Any]:
        commands = [await self.fund_command(invoice_id, investor, self.now) for invoice_id in invoice_ids]
        replies, seconds = await self.pipelined(commands, self.plan.python_connections)
        fundings = sum(1 for r in replies if isinstance(r, list) and r[0] == "ok")
        return {"calls": len(commands), "fundings": fundings, "seconds": round(seconds, 3),
                "fundings_per_s": round(fundings / seconds, 1)}  # fmt: skip

    async def benchmark_round(self, invoice_ids: list[str], investor: str, pool_size: int) -> dict[str, Any]:
        template = await self.fund_command(invoice_ids[0], investor, self.now)
        prefix = invoice_ids[0][: -len("000000000000")]
        argv = [str(part).replace(invoice_ids[0], prefix + "__rand_int__") for part in template]
        listed_before = await self.listed_count()
        benchmark = run_redis_benchmark(self.port, argv, self.plan, pool_size)
        fundings = listed_before - await self.listed_count()
        requests_per_s = benchmark["requests_per_s"]
        seconds = self.plan.benchmark_requests / requests_per_s if requests_per_s else math.nan
        return {**benchmark, "fundings": fundings, "refusals": self.plan.benchmark_requests - fundings,
                "fundings_per_s": round(fundings / seconds, 1)}  # fmt: skip


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
