"""Benchmark a: successful fundings per second over HTTP beside the same server's GET /health
requests per second, same client, same concurrency, same run.

Setup (untimed): sellers, investors with ample balances, one buyer and `invoices` listed invoices.
Then, after a 2 s /health warm-up, windows of `duration_s` alternate: /health, then fundings of
distinct listed invoices (each once, by a rotating investor, at the ask; a window ends early if
the invoices run out), then /health, `rounds` times. Each side's figure is the median of its
windows, so a neighbour's burst on this shared machine skews one window, not the result. CPU of
the client, the app and Redis is reported per window: on two cores they all share the same ones.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loadtest.api import Api, User, make_session
from loadtest.scenario import bounded_gather, due_date
from loadtest.servers import cpu_s, process_tree, tree_cpu_s

INVOICE_AMOUNT = 10_000_000
ASK_AMOUNT = 9_500_000
WARMUP_S = 2.0


@dataclass
class HttpPlan:
    invoices: int = 15_000
    duration_s: float = 3.0
    rounds: int = 3
    concurrency: int = 32
    sellers: int = 4
    investors: int = 16


@dataclass
class Watched:
    """Processes whose CPU is reported beside a window's throughput (pids of process-tree roots)."""

    pids: dict[str, int]

    def snapshot(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result = {"client": usage.ru_utime + usage.ru_stime}
        for name, root in self.pids.items():
            result[name] = tree_cpu_s(root)
            tree = process_tree(root)
            if len(tree) > 1:  # a server with workers: show how the load spread over them
                result |= {f"{name}[{pid}]": cpu_s(pid) for pid in tree if pid != root}
        return result


async def timed_window(
    concurrency: int, duration_s: float, operation: Callable[[], Awaitable[bool]], watched: Watched
) -> dict[str, Any]:
    """Run `operation` from `concurrency` loops until duration_s or until it returns False."""
    deadline = time.monotonic() + duration_s

    async def loop() -> None:
        while time.monotonic() < deadline and await operation():
            pass

    cpu_before = watched.snapshot()
    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    cpu_after = watched.snapshot()
    return {
        "seconds": round(elapsed, 3),
        "cpu_cores": {n: round((cpu_after[n] - cpu_before[n]) / elapsed, 2) for n in cpu_before},
    }


async def prepare(api: Api, plan: HttpPlan, run_id: str) -> tuple[list[User], list[str]]:
    async def register(role: str, index: int) -> User | None:
        return await api.register(f"Bench {role} {index}", f"bench-{run_id}-{role}-{index}@example.test", role,
                                  f"Bench {role} {index} Ltd")  # fmt: skip

    sellers = [u for u in await asyncio.gather(*(register("seller", i) for i in range(plan.sellers))) if u]
    investors = [u for u in await asyncio.gather(*(register("investor", i) for i in range(plan.investors))) if u]
    buyer = await register("buyer", 0)
    if not sellers or not investors or buyer is None:
        raise RuntimeError(f"registration failed: {api.stats_for('register').statuses}")
    await asyncio.gather(*(api.deposit(investor, 10**14) for investor in investors))

    invoice_ids: list[str] = []
    due = due_date(90)

    async def create(index: int) -> None:
        body = {"invoiceNumber": f"H-{run_id}-{index}", "buyerId": buyer.id, "amount": INVOICE_AMOUNT,
                "askAmount": ASK_AMOUNT, "dueDate": due}  # fmt: skip
        response = await api.create_invoice(sellers[index % len(sellers)], body)
        if response.ok:
            invoice_ids.append(str(response.body["invoice"]["id"]))

    await bounded_gather(plan.concurrency, [functools.partial(create, i) for i in range(plan.invoices)])
    return investors, invoice_ids


async def measure_funding_vs_health(base_url: str, plan: HttpPlan, watched: Watched, run_id: str) -> dict[str, Any]:
    async with make_session(plan.concurrency + 8) as session:
        api = Api(base_url, session)
        setup_started = time.monotonic()
        investors, invoice_ids = await prepare(api, plan, run_id)
        setup_s = time.monotonic() - setup_started

        async def health() -> bool:
            await api.health()
            return True

        pending = iter(invoice_ids)
        rotation = itertools.cycle(investors)

        async def fund() -> bool:
            invoice_id = next(pending, None)
            if invoice_id is None:
                return False
            await api.fund(next(rotation), invoice_id, ASK_AMOUNT)
            return True

        windows: list[dict[str, Any]] = []
        # warm-up, not counted: connections opened, code paths and caches warm on both sides
        await timed_window(plan.concurrency, WARMUP_S, health, watched)
        # health, fund, health, ... health: each fund window has a health window on either side
        schedule = ["health", *(["fund", "health"] * plan.rounds)]
        for op, operation in ((name, fund if name == "fund" else health) for name in schedule):
            stats = api.stats_for(op)
            count0, ok0 = stats.count, stats.successes
            window = await timed_window(plan.concurrency, plan.duration_s, operation, watched)
            window = {"operation": op, "requests": stats.count - count0, "ok": stats.successes - ok0, **window}
            window["ok_per_s"] = round(window["ok"] / window["seconds"], 1)
            windows.append(window)

    health_per_s = statistics.median(w["ok_per_s"] for w in windows if w["operation"] == "health")
    fund_per_s = statistics.median(w["ok_per_s"] for w in windows if w["operation"] == "fund")
    fund_stats = api.stats_for("fund").summary(sum(w["seconds"] for w in windows if w["operation"] == "fund"))
    health_stats = api.stats_for("health").summary(sum(w["seconds"] for w in windows if w["operation"] == "health"))
    return {
        "setup_s": round(setup_s, 2),
        "invoices_listed": len(invoice_ids),
        "concurrency": plan.concurrency,
        "windows": windows,
        "health_per_s": round(health_per_s, 1),
        "fundings_per_s": round(fund_per_s, 1),
        "ratio": round(fund_per_s / health_per_s, 3) if health_per_s else None,
        "target_ratio": 0.70,
        "fund_latency": {k: fund_stats[k] for k in ("count", "p50_ms", "p90_ms", "p99_ms", "max_ms", "statuses")},
        "health_latency": {k: health_stats[k] for k in ("count", "p50_ms", "p90_ms", "p99_ms", "max_ms", "statuses")},
    }
