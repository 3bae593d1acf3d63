"""python -m loadtest.scale: tens of thousands of idle WebSocket sockets on the app, then broadcasts.

Starts a throwaway redis-server and the app (``python app.py``, WORKERS as asked) with its file limit
raised, opens ``--sockets`` idle sockets from several client processes (each on its own 127.0.0.x source
address: one address has about 28,000 ephemeral ports towards one server port), reports the server's
resident memory per socket, then sends ``--events`` broadcasts (an invoice created: its
``newInvoiceListed`` goes to every socket) at ``--rate`` per second and reports trigger -> receipt
latency (kernel receive timestamps at the client, as bench b) and the server's CPU per socket per
broadcast. Everything it starts it stops.

    python -m loadtest.scale --sockets 20000 --workers 1
    python -m loadtest.scale --sockets 50000 --workers 2

The file limit (RLIMIT_NOFILE) is raised in this process before anything starts, so the app and the
client processes inherit it; raising the hard limit needs root (or a hard limit high enough already).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from loadtest.api import Api, make_session
from loadtest.bench_ws import FanoutPlan, app_trigger, measure_fanout, socket_urls
from loadtest.servers import Managed, running, start_app, start_redis, tree_rss_kb

SOCKETS_PER_PROCESS = 5_000
SOCKETS_PER_SOURCE = 20_000  # under the ~28,000 ephemeral ports of one source address


def raise_file_limit(needed: int) -> tuple[int, int]:
    """Raises RLIMIT_NOFILE to ``needed`` where allowed, else to the hard limit (said on stderr: a server
    process then holds at most that many sockets, less the few files it has open anyway)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
        except (ValueError, OSError) as error:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            print(f"RLIMIT_NOFILE stays at its hard limit {hard} (wanted {needed}: {error}); each server "
                  f"process holds fewer than {hard} sockets", file=sys.stderr, flush=True)
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def memory_available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


async def run(args: argparse.Namespace, app: Managed) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    async with make_session(16) as session:
        api = Api(app.url, session)
        seller = await api.register("Scale Seller", f"scale-seller-{run_id}@example.test", "seller", "Scale Ltd")
        buyer = await api.register("Scale Buyer", f"scale-buyer-{run_id}@example.test", "buyer", "Scale Buyer Corp")
        investors = [await api.register(f"Scale Investor {n}", f"scale-inv-{run_id}-{n}@example.test", "investor")
                     for n in range(20)]
        if seller is None or buyer is None or any(user is None for user in investors):
            raise SystemExit("could not register the scale run's users")
        tokens = [user.token for user in investors if user is not None]
        urls = socket_urls(app.url, tokens, args.sockets)
        processes = max(1, math.ceil(args.sockets / SOCKETS_PER_PROCESS))
        sources = max(1, math.ceil(args.sockets / SOCKETS_PER_SOURCE))
        source_hosts = [f"127.0.0.{2 + n}" for n in range(max(sources, processes))]
        plan = FanoutPlan(clients=args.sockets, events=args.events, warmup_events=3, rate_per_s=args.rate,
                          client_processes=processes, drain_s=30.0, source_hosts=source_hosts,
                          connect_concurrency=args.connect_concurrency)
        await asyncio.sleep(1.0)
        rss_before = tree_rss_kb(app.process.pid)

        async def after_connect() -> dict[str, Any]:
            await asyncio.sleep(3.0)  # lazy allocations, the hand-over of the last sockets
            rss_after = tree_rss_kb(app.process.pid)
            delta_kb = sum(rss_after.values()) - sum(rss_before.values())
            state = {"rss_before_kb": sum(rss_before.values()), "rss_after_kb": sum(rss_after.values()),
                     "rss_per_worker_kb": sorted(rss_after.values()),
                     "kb_per_socket": round(delta_kb / args.sockets, 2),
                     "memory_available_kb": memory_available_kb()}
            print(f"connected: server RSS {state['rss_before_kb']} -> {state['rss_after_kb']} KB, "
                  f"{state['kb_per_socket']} KB per socket", file=sys.stderr, flush=True)
            return state

        started = time.monotonic()
        result = await measure_fanout(urls, app_trigger(api, seller, buyer, run_id), plan,
                                      server_pid=app.process.pid, on_connected=after_connect)
        result["seconds"] = round(time.monotonic() - started, 1)
        result["client_processes"] = processes
        result["source_hosts"] = source_hosts
        return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--events", type=int, default=10, help="measured broadcasts (after 3 warm-ups)")
    parser.add_argument("--rate", type=float, default=0.5, help="broadcasts per second")
    parser.add_argument("--connect-concurrency", type=int, default=32, help="connects in flight per client process")
    parser.add_argument("--out", type=Path, default=Path("loadtest-results/scale.json"))
    args = parser.parse_args()
    limit = raise_file_limit(args.sockets * 2 + 10_000)
    machine = {"nproc": os.cpu_count(), "load_average_at_start": os.getloadavg(), "rlimit_nofile": limit,
               "memory_available_kb_at_start": memory_available_kb(),
               "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(json.dumps(machine), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        log_dir = Path(scratch)
        redis = start_redis(log_dir)
        with running(redis):
            app = start_app(redis.url, log_dir, workers=args.workers,
                            extra_env={"PASSWORD_HASH_COST": "4", "AGING_INTERVAL_SECONDS": "0"})
            with running(app):
                result = asyncio.run(run(args, app))
    result = {"machine": machine, "settings": vars(args) | {"out": str(args.out)}, **result,
              "load_average_at_end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    trigger = result["trigger_to_receipt"]
    print(f"{args.sockets} sockets on {args.workers} worker(s): connected {result['connected']} in "
          f"{result['connect_s']} s; {result['connected_state'].get('kb_per_socket')} KB RSS per socket; "
          f"broadcast trigger -> receipt p50 {trigger['p50_ms']} / p99 {trigger['p99_ms']} / "
          f"max {trigger['max_ms']} ms; "
          f"deliveries {result['deliveries']}/{result['deliveries_expected']}; "
          f"server CPU {result['server_cpu_us_per_socket_per_broadcast']} us per socket per broadcast; "
          f"close codes {result['client']['close_codes']}; connect errors {result['connect_errors']}")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
