"""python -m loadtest.bench_acks: what REPLICA_ACKS=1 costs a funding, beside REPLICA_ACKS=0, in one run.

Starts a redis-server and a replica of it (loopback, free ports, no persistence), then the app with
REPLICA_ACKS=0, 1, 0, 1 in turn (fresh users and invoices each time), and measures bench a's funding
windows against /health on each (loadtest/bench_http.py). Prints fundings per second and the funding
latency per setting, and the medians of each setting's runs.

    python -m loadtest.bench_acks                       # 2 workers, 2 rounds of 2 s windows per run
    python -m loadtest.bench_acks --workers 1 --window 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtest.bench_http import HttpPlan, Watched, measure_funding_vs_health
from loadtest.servers import LOOPBACK, REDIS_SERVER, Managed, free_port, start_app, start_redis

SETTINGS = ("0", "1", "0", "1")


def start_replica(primary: Managed, log_dir: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="bench-replica-", dir=log_dir)
    process = subprocess.Popen(
        [REDIS_SERVER, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", data_dir,
         "--replicaof", LOOPBACK, primary.extra["port"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5) as conn:
            conn.sendall(b"INFO replication\r\n")
            if b"master_link_status:up" in conn.recv(4096):
                return process
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError("the replica did not connect to its primary")


async def run(workers: int, window_s: float, rounds: int, invoices: int, concurrency: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-acks-") as folder:
        log_dir = Path(folder)
        primary = start_redis(log_dir)
        replica = start_replica(primary, log_dir)
        try:
            for acks in SETTINGS:
                app = start_app(primary.url, log_dir, workers=workers, extra_env={"REPLICA_ACKS": acks})
                try:
                    plan = HttpPlan(invoices=invoices, duration_s=window_s, rounds=rounds, concurrency=concurrency)
                    watched = Watched({"app": app.process.pid, "redis": primary.process.pid})
                    result = await measure_funding_vs_health(app.url, plan, watched, secrets.token_hex(4))
                finally:
                    app.stop()
                fund = result["fund_latency"]
                print(f"REPLICA_ACKS={acks}: {result['fundings_per_s']} fundings/s, /health {result['health_per_s']}/s "
                      f"(ratio {result['ratio']}), fund p50 {fund['p50_ms']} ms, p99 {fund['p99_ms']} ms, "
                      f"statuses {fund['statuses']}", flush=True)
                results.append({"acks": acks, **result})
        finally:
            replica.terminate()
            replica.wait(timeout=10)
            primary.stop()
    for acks in sorted(set(SETTINGS)):
        runs = [r for r in results if r["acks"] == acks]
        print(f"median REPLICA_ACKS={acks}: {statistics.median(r['fundings_per_s'] for r in runs)} fundings/s, "
              f"fund p50 {statistics.median(r['fund_latency']['p50_ms'] for r in runs)} ms, "
              f"p99 {statistics.median(r['fund_latency']['p99_ms'] for r in runs)} ms")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_acks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="WORKERS for the app")
    parser.add_argument("--window", type=float, default=2.0, help="seconds per measured window")
    parser.add_argument("--rounds", type=int, default=2, help="funding windows per run")
    parser.add_argument("--invoices", type=int, default=4000, help="listed invoices prepared per run")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent HTTP requests")
    args = parser.parse_args(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    asyncio.run(run(args.workers, args.window, args.rounds, args.invoices, args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
