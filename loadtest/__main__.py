"""python -m loadtest --url http://127.0.0.1:8000 [options]

Drives a running server: registers sellers, investors and buyers, deposits, then runs concurrent
invoice flows (create, a race of investors to fund, repay some) with WebSocket clients connected;
prints progress each second, a table of throughput and latency percentiles per operation and of
event delivery latency, counts double fundings and, with --redis-url, runs `python -m finance check`.
Exit status: 0 when no double funding, no HTTP error and a passing ledger check (when run), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

from loadtest.report import build_result, ledger_check, render_table, write_json
from loadtest.scenario import LoadConfig, run_load

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None = None) -> LoadConfig:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--sellers", type=int, default=4)
    parser.add_argument("--investors", type=int, default=8)
    parser.add_argument("--buyers", type=int, default=4)
    parser.add_argument("--ws-clients", type=int, default=50, help="WebSocket clients (spread over the users)")
    parser.add_argument(
        "--ws-processes", type=int, default=0, help="client processes; 0: one per 500 sockets, at most 4"
    )
    parser.add_argument("--ws-deflate", action="store_true", help="offer permessage-deflate, as browsers do")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (upper bound)")
    parser.add_argument("--operations", type=int, default=None, help="stop after this many requests")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent invoice flows")
    parser.add_argument(
        "--flow-rate", type=float, default=0.0, help="invoice flows started per second (0: as fast as possible)"
    )
    parser.add_argument("--race", type=int, default=3, help="investors racing to fund each invoice")
    parser.add_argument("--scenario", choices=["buy-now", "auction", "fractional"], default="buy-now",
                        help="buy-now: racers fund at once; auction: racers bid, the seller accepts the best; "
                             "fractional: racers buy a claim each, then race for the last one")
    parser.add_argument("--repay-fraction", type=float, default=0.5, help="share of funded invoices repaid")
    parser.add_argument("--deposit-fraction", type=float, default=0.05, help="chance of a top-up after a flow")
    parser.add_argument("--drain", type=float, default=2.0, help="max seconds to wait for in-flight events")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--redis-url", default=None, help="run the ledger check against this Redis after")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    config = LoadConfig(
        url=args.url,
        sellers=args.sellers,
        investors=args.investors,
        buyers=args.buyers,
        ws_clients=args.ws_clients,
        ws_processes=args.ws_processes,
        ws_deflate=args.ws_deflate,
        duration_s=args.duration,
        operations=args.operations,
        concurrency=args.concurrency,
        flow_rate=args.flow_rate,
        race=args.race,
        scenario=args.scenario,
        repay_fraction=args.repay_fraction,
        deposit_fraction=args.deposit_fraction,
        drain_s=args.drain,
        seed=args.seed,
        redis_url=args.redis_url,
        out=args.out,
        progress=not args.quiet,
    )
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    host = urlsplit(config.url).hostname
    if host not in LOOPBACK_HOSTS:
        parser.error(f"refusing the non-loopback target {host!r}: this tool only loads local servers")
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        outcome = asyncio.run(run_load(config))
    except (RuntimeError, TimeoutError) as exc:
        print(f"load run aborted: {exc}", file=sys.stderr)
        return 2
    result = build_result(outcome)
    if config.redis_url:
        result["checks"]["ledger"] = ledger_check(config.redis_url)
    if config.out is not None:
        write_json(result, config.out)
    print(render_table(result))
    checks = result["checks"]
    passed = checks["double_fundings"] == 0 and checks["http_errors"] == 0
    # a socket never sees a gap, a reorder or a duplicate in a stream (closed sockets included)
    passed = passed and not checks.get("ws_gaps") and not checks.get("ws_out_of_order") \
        and not checks.get("ws_duplicates")
    if "ledger" in checks:
        passed = passed and checks["ledger"]["ok"]
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
