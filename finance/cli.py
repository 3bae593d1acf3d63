"""The commands: ``invoice-finance serve|check|seed-demo|index-buyers`` (also ``python -m finance ...``).

``serve`` is ``python app.py``; ``check`` verifies the ledger invariants; ``seed-demo`` adds demo users
and invoices; ``index-buyers`` puts buyers registered before the buyer directory existed into it (safe to
run again). All use REDIS_URL (and MARKET, HOST, PORT, WORKERS) from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from finance import demo
from finance.auth import directory
from finance.books import ledger
from finance.connection import connect
from finance.market import Market
from finance.settings import Settings


async def _check(market: Market) -> int:
    report = await ledger.check(market)
    print(f"checked {report.wallets} wallets, {report.system_accounts} system accounts, {report.entries} ledger "
          f"entries, {report.invoices} invoices")
    if report.unsettled:
        print(f"not judged (changed during every read, check again): {', '.join(report.unsettled)}")
    for problem in report.problems:
        print(f"BROKEN: {problem}")
    print("ledger OK" if report.ok else f"ledger BROKEN: {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


async def _seed(market: Market) -> int:
    print(json.dumps(await demo.seed(market), indent=2))
    return 0


async def _index_buyers(market: Market) -> int:
    print(f"the buyer directory holds {await directory.index_buyers(market)} buyer(s)")
    return 0


COMMANDS = {"check": _check, "seed-demo": _seed, "index-buyers": _index_buyers}


async def _main(command: str) -> int:
    settings = Settings.from_env()
    if settings.embedded:
        print("REDIS_URL is not set: the embedded fakeredis lives inside the server process, so there is "
              "nothing here to check or seed. Set REDIS_URL=redis://host:port/db.", file=sys.stderr)
        return 2
    redis = connect(settings)
    try:
        market = Market.create(redis, settings)
        return await COMMANDS[command](market)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="invoice-finance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["serve", *COMMANDS])
    args = parser.parse_args(argv)
    if args.command == "serve":
        import app  # the server lives beside the domain, not in it

        app.main()
        return 0
    return asyncio.run(_main(args.command))
