"""python -m loadtest.trace_memory: where the memory of idle WebSocket connections goes.

Serves the app (one worker, on a redis-server started here) or the bare Quart baseline inside this
process under tracemalloc, opens N idle sockets from client processes, and prints the allocation
sites that grew, per socket, beside the RSS growth per socket. zlib's state is allocated through
Python's raw allocator, so permessage-deflate shows up too (under wsproto's extension).

    python -m loadtest.trace_memory --target app --sockets 1000 [--deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from loadtest.api import Api, make_session
from loadtest.servers import LOOPBACK, free_port, rss_kb, start_redis
from loadtest.wsclients import WsClientPool

TRACE_FRAMES = 8


async def _wait_ready(url: str) -> None:
    async with make_session(2) as session:
        api = Api(url, session)
        for _ in range(200):
            if (await api.health()).ok:
                return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


async def _tokens(url: str, count: int) -> list[str]:
    async with make_session(8) as session:
        api = Api(url, session)
        users = [
            await api.register(f"Trace {i}", f"trace-{os.getpid()}-{i}@example.test", "investor") for i in range(count)
        ]
    return [user.token for user in users if user is not None]


def _top(diff: list[tracemalloc.StatisticDiff], sockets: int, limit: int) -> list[dict[str, Any]]:
    rows = []
    for stat in diff[:limit]:
        frame = stat.traceback[0]
        rows.append({
            "where": f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}",
            "bytes_per_socket": round(stat.size_diff / sockets),
            "blocks_per_socket": round(stat.count_diff / sockets, 2),
        })  # fmt: skip
    return rows


async def trace(app: Any, sockets: int, deflate: bool, needs_tokens: bool) -> dict[str, Any]:
    port = free_port()
    config = Config()
    config.bind = [f"{LOOPBACK}:{port}"]
    config.accesslog = None
    config.backlog = 4096
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    url = f"http://{LOOPBACK}:{port}"
    try:
        await _wait_ready(url)
        tokens = await _tokens(url, 10) if needs_tokens else []
        urls = [
            f"ws://{LOOPBACK}:{port}/ws" + (f"?token={tokens[i % len(tokens)]}" if tokens else "")
            for i in range(sockets)
        ]
        gc.collect()
        await asyncio.sleep(0.5)
        before, rss_before = tracemalloc.take_snapshot(), rss_kb(os.getpid())
        pool = WsClientPool(urls, processes=2, deflate=deflate, lifetime_s=300)
        try:
            connected = (await pool.start())["connected"]
            await asyncio.sleep(2.0)
            gc.collect()
            after, rss_after = tracemalloc.take_snapshot(), rss_kb(os.getpid())
            await pool.stop()
        finally:
            pool.terminate()
    finally:
        stop.set()
        await server
    by_line = after.compare_to(before, "lineno")
    by_file = after.compare_to(before, "filename")
    traced = sum(stat.size_diff for stat in by_line)
    return {
        "sockets": connected,
        "deflate_offered": deflate,
        "rss_kb_per_socket": round((rss_after - rss_before) / connected, 2),
        "traced_kb_per_socket": round(traced / 1024 / connected, 2),
        "top_lines": _top(by_line, connected, 15),
        "top_files": _top(by_file, connected, 10),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['sockets']} idle sockets, deflate offered: {result['deflate_offered']}: "
        f"RSS {result['rss_kb_per_socket']} KB/socket (inflated by tracemalloc's own records), "
        f"traced {result['traced_kb_per_socket']} KB/socket",
        "",
        f"{'bytes/socket':>12} {'blocks':>7}  allocation site (first frame)",
    ]
    lines += [f"{r['bytes_per_socket']:>12} {r['blocks_per_socket']:>7}  {r['where']}" for r in result["top_lines"]]
    lines += ["", f"{'bytes/socket':>12} {'blocks':>7}  file"]
    lines += [f"{r['bytes_per_socket']:>12} {r['blocks_per_socket']:>7}  {r['where']}" for r in result["top_files"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.trace_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", choices=["app", "baseline"], default="app")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate, as browsers do")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trace-memory-") as scratch:
        redis = start_redis(Path(scratch)) if args.target == "app" else None
        try:
            if redis is not None:
                os.environ["REDIS_URL"] = redis.url
                os.environ.setdefault("PASSWORD_HASH_COST", "4")
                os.environ.setdefault("AUTH_ATTEMPTS_PER_ADDRESS_MAX", "0")
                from app import create_app

                app = create_app()
            else:
                from loadtest.baseline_broadcast import create_app as create_baseline

                app = create_baseline()
            tracemalloc.start(TRACE_FRAMES)
            result = asyncio.run(trace(app, args.sockets, args.deflate, needs_tokens=redis is not None))
        finally:
            if redis is not None:
                redis.stop()
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
