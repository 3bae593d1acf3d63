"""python -m loadtest.bench: the benchmarks of docs/benchmarks.md, each beside its baseline, in one run.

Starts its own redis-server (/usr/bin/redis-server, a free loopback port, no persistence), the app
(`python app.py` with REDIS_URL, HOST, PORT, WORKERS) and the bare Quart baseline as subprocesses,
fresh for each benchmark that needs them, and stops them all at the end.

  a  funding over HTTP vs the same server's GET /health                     (target >= 70%)
  b  event latency and server CPU per socket per broadcast at 1,000 and 5,000 WebSocket clients: the app
     (1 and 2 workers) beside the raw asyncio floor, Socket.IO 4.8 on node, and the bare Quart loop
  c  memory per idle WebSocket vs the bare Quart baseline                    (target < 50 KB)
  d  the funding Lua script through redis-py, pipelined, vs redis-benchmark EVALSHA (the ceiling)
  e  HTTP money requests while sockets receive events: the load generator's scenario (16 flows) with
     0 (the reference), 200 and 2,000 WebSocket clients          (targets: HTTP p99 < 250 ms, events < 100 ms)

Prints each figure as it is measured and writes everything to --out (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loadtest.api import Api, User, make_session
from loadtest.bench_http import HttpPlan, Watched, measure_funding_vs_health
from loadtest.bench_lua import LuaPlan, measure_lua
from loadtest.bench_mixed import MixedPlan, measure_mixed
from loadtest.bench_ws import (
    FanoutPlan,
    app_trigger,
    baseline_trigger,
    measure_fanout,
    measure_idle_memory,
    socket_urls,
)
from loadtest.servers import (
    PROJECT_ROOT,
    REDIS_SERVER,
    Managed,
    start_app,
    start_baseline,
    start_redis,
    start_socketio,
)

BENCHMARKS = ("a", "b", "c", "d", "e")
# appsio: the app's own /socket.io/ (streams/socketio), measured with the app of each --fanout-workers
FANOUT_SERVERS = ("raw", "socketio", "quart", "app", "appsio")
SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket"


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    redis_version = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True, check=False).stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "redis_server": redis_version.strip(),
        "load_average_at_start": os.getloadavg(),
        "commit": commit,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def app_socketio_urls(base_url: str, tokens: list[str], count: int) -> list[str]:
    """Our /socket.io/ for the lean client, which sends the ``token`` as the CONNECT packet's auth."""
    ws_base = base_url.replace("http", "ws", 1)
    return [f"{ws_base}{SOCKETIO_PATH}&token={tokens[i % len(tokens)]}" for i in range(count)]


def baseline_ws_url(baseline: Managed) -> str:
    return baseline.url.replace("http", "ws", 1) + "/ws"


def fanout_line(figures: dict[str, Any]) -> str:
    latency = figures["trigger_to_receipt"]
    return (
        f"p50 {latency['p50_ms']} / p99 {latency['p99_ms']} / max {latency['max_ms']} ms, server CPU "
        f"{figures['server_cpu_us_per_socket_per_broadcast']} us per socket per broadcast "
        f"({figures['server_cpu_share_of_one_core']} of a core); deliveries {figures['deliveries']}/"
        f"{figures['deliveries_expected']}; client CPU {figures['client']['client_cpu_share_of_one_core']} of a core"
    )


def fanout_table(results: dict[str, Any]) -> str:
    """The same-run table of docs/benchmarks.md: one row per server and client count."""
    lines = ["| server, clients | p50 ms | p99 ms | max ms | server CPU us/socket/broadcast | deliveries |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, figures in results.items():
        if not isinstance(figures, dict) or "trigger_to_receipt" not in figures:
            continue
        latency = figures["trigger_to_receipt"]
        lines.append(
            f"| {name} | {latency['p50_ms']} | {latency['p99_ms']} | {latency['max_ms']} | "
            f"{figures['server_cpu_us_per_socket_per_broadcast']} | {figures['deliveries']}/"
            f"{figures['deliveries_expected']} |"
        )
    return "\n".join(lines)


def say(text: str) -> None:
    print(text, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, log_dir: Path) -> None:
        self.args = args
        self.log_dir = log_dir
        self.results: dict[str, Any] = {"machine": machine(), "settings": vars(args) | {"out": str(args.out)}}
        self.run_id = secrets.token_hex(3)

    def save(self) -> None:
        self.args.out.parent.mkdir(parents=True, exist_ok=True)
        self.args.out.write_text(json.dumps(self.results, indent=2, default=str) + "\n")

    async def guarded(self, name: str, job: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """One benchmark; a failure is recorded with its reason and the others still run."""
        say(f"\n== {name}")
        started = time.monotonic()
        try:
            self.results[name] = await job()
        except Exception as exc:
            self.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            say(f"   FAILED: {type(exc).__name__}: {exc}")
        self.results[name]["bench_seconds"] = round(time.monotonic() - started, 1)
        self.results[name]["load_average_at_end"] = os.getloadavg()
        self.save()

    def app(self, redis: Managed) -> Managed:
        return start_app(redis.url, self.log_dir, workers=self.args.workers, app_root=self.args.app_root)

    async def tokens(self, app: Managed, count: int) -> tuple[list[User], User, User]:
        """Investors whose tokens the sockets use (several tabs each), a seller and a buyer."""
        async with make_session(16) as session:
            api = Api(app.url, session)

            async def register(role: str, index: int) -> User | None:
                email = f"ws-{self.run_id}-{role}-{index}@example.test"
                return await api.register(f"WS {role} {index}", email, role, f"WS {role} Ltd")

            users = await asyncio.gather(*(register("investor", i) for i in range(count)))
            seller, buyer = await register("seller", 0), await register("buyer", 0)
        investors = [user for user in users if user is not None]
        if not investors or seller is None or buyer is None:
            raise RuntimeError(f"registration failed: {api.stats_for('register').statuses}")
        return investors, seller, buyer

    async def funding_vs_health(self) -> dict[str, Any]:
        redis = start_redis(self.log_dir)
        try:
            app = self.app(redis)
            try:
                plan = HttpPlan(
                    invoices=self.args.invoices, duration_s=self.args.window, concurrency=self.args.concurrency
                )
                watched = Watched({"app": app.process.pid, "redis": redis.process.pid})
                result = await measure_funding_vs_health(app.url, plan, watched, self.run_id)
            finally:
                app.stop()
        finally:
            redis.stop()
        say(
            f"   fundings {result['fundings_per_s']}/s vs /health {result['health_per_s']}/s: "
            f"ratio {result['ratio']} (target >= 0.70); fund p99 {result['fund_latency']['p99_ms']} ms"
        )
        return result

    async def idle_memory(self) -> dict[str, Any]:
        results: dict[str, Any] = {"sockets": self.args.idle_sockets, "target_kb": 50}
        for mode in self.args.ws_modes:
            app_result = await self.idle_memory_of_app(mode == "browser")
            base_result = await self.idle_memory_of_baseline(mode == "browser")
            results[mode] = {"app": app_result, "baseline": base_result}
            say(
                f"   {mode} clients: app {app_result['kb_per_socket']} KB/socket, bare Quart "
                f"{base_result['kb_per_socket']} KB/socket ({self.args.idle_sockets} idle sockets; target < 50 KB)"
            )
        if self.args.idle_socketio:
            ours = await self.idle_memory_of_app(False, socketio=True)
            native = await self.idle_memory_of_native_socketio()
            results["socketio"] = {"app": ours, "native": native}
            say(f"   socket.io clients: our /socket.io/ {ours['kb_per_socket']} KB/socket, native Socket.IO 4.8 "
                f"{native['kb_per_socket']} KB/socket ({self.args.idle_sockets} idle sockets)")
        return results

    async def idle_memory_of_app(self, deflate: bool, socketio: bool = False) -> dict[str, Any]:
        redis = start_redis(self.log_dir)
        try:
            app = self.app(redis)
            try:
                investors, _, _ = await self.tokens(app, 10)
                urls = (app_socketio_urls if socketio else socket_urls)(app.url, [u.token for u in investors],
                                                                        self.args.idle_sockets)
                return await measure_idle_memory(app, urls, self.args.client_processes_idle, deflate)
            finally:
                app.stop()
        finally:
            redis.stop()

    async def idle_memory_of_baseline(self, deflate: bool) -> dict[str, Any]:
        baseline = start_baseline(self.log_dir)
        try:
            urls = [baseline_ws_url(baseline)] * self.args.idle_sockets
            return await measure_idle_memory(baseline, urls, self.args.client_processes_idle, deflate)
        finally:
            baseline.stop()

    async def idle_memory_of_native_socketio(self) -> dict[str, Any]:
        native = start_socketio(self.log_dir)
        try:
            urls = [native.url.replace("http", "ws", 1) + SOCKETIO_PATH] * self.args.idle_sockets
            return await measure_idle_memory(native, urls, self.args.client_processes_idle)
        finally:
            native.stop()

    async def fanout(self) -> dict[str, Any]:
        """Every server of --fanout-servers up at once, measured in turn at each client count, with the
        same clients: the raw floor, Socket.IO, bare Quart, and the app at each of --fanout-workers."""
        results: dict[str, Any] = {}
        wanted = self.args.fanout_servers
        redis = start_redis(self.log_dir)
        servers: list[Managed] = []
        try:
            apps = {w: start_app(redis.url, self.log_dir, workers=w, app_root=self.args.app_root)
                    for w in (self.args.fanout_workers if {"app", "appsio"} & set(wanted) else [])}  # fmt: skip
            servers += apps.values()
            baselines: dict[str, tuple[Managed, str]] = {}
            if "raw" in wanted:
                raw = start_baseline(self.log_dir, module="loadtest.raw_broadcast")
                baselines["raw_floor"] = (raw, baseline_ws_url(raw))
            if "socketio" in wanted:
                sio = start_socketio(self.log_dir)
                baselines["socketio"] = (sio, sio.url.replace("http", "ws", 1) + SOCKETIO_PATH)
            if "quart" in wanted:
                quart = start_baseline(self.log_dir)
                baselines["bare_quart"] = (quart, baseline_ws_url(quart))
            servers += [server for server, _ in baselines.values()]
            first_app = next(iter(apps.values()), None)
            tokens: list[str] = []
            seller = buyer = None
            if first_app is not None:
                investors, seller, buyer = await self.tokens(first_app, 20)
                tokens = [u.token for u in investors]
            async with make_session(8) as session:
                for clients in self.args.clients:
                    for name, (server, url) in baselines.items():
                        plan = self.fanout_plan(clients, deflate=False)
                        figures = await measure_fanout([url] * clients, baseline_trigger(session, server.url), plan,
                                                       server_pid=server.process.pid)  # fmt: skip
                        results[f"{name}_{clients}"] = figures
                        say(f"   {name:>10}, {clients} clients: " + fanout_line(figures))
                    for workers, app in apps.items():
                        assert seller is not None and buyer is not None
                        api = Api(app.url, session)
                        for mode in (self.args.ws_modes if "app" in wanted else []):
                            plan = self.fanout_plan(clients, deflate=mode == "browser")
                            trigger = app_trigger(api, seller, buyer, f"{self.run_id}-{mode}-{clients}-{workers}")
                            figures = await measure_fanout(socket_urls(app.url, tokens, clients), trigger, plan,
                                                           server_pid=app.process.pid)  # fmt: skip
                            results[f"app_{workers}w_{mode}_{clients}"] = figures
                            say(f"   app {workers}w {mode}, {clients} clients: " + fanout_line(figures))
                        if "appsio" in wanted:  # the same client as the native Socket.IO row, no extension
                            plan = self.fanout_plan(clients, deflate=False)
                            trigger = app_trigger(api, seller, buyer, f"{self.run_id}-sio-{clients}-{workers}")
                            figures = await measure_fanout(app_socketio_urls(app.url, tokens, clients), trigger,
                                                           plan, server_pid=app.process.pid)  # fmt: skip
                            results[f"app_{workers}w_socketio_{clients}"] = figures
                            say(f"   app {workers}w socket.io, {clients} clients: " + fanout_line(figures))
        finally:
            for server in reversed(servers):
                server.stop()
            redis.stop()
        say("\n" + fanout_table(results))
        return results

    def fanout_plan(self, clients: int, deflate: bool) -> FanoutPlan:
        return FanoutPlan(
            clients=clients,
            events=self.args.events,
            rate_per_s=self.args.rate,
            client_processes=max(2, -(-clients // 1250)),
            deflate=deflate,
        )

    async def lua(self) -> dict[str, Any]:
        redis = start_redis(self.log_dir)
        try:
            plan = LuaPlan(python_fundings=self.args.lua_calls, benchmark_requests=self.args.lua_calls)
            result = await measure_lua(redis.url, plan)
        finally:
            redis.stop()
        say(
            f"   redis-py pipelined {result['python']['fundings_per_s']} fundings/s vs redis-benchmark "
            f"{result['redis_benchmark']['fundings_per_s']} fundings/s "
            f"({result['redis_benchmark']['requests_per_s']} EVALSHA/s): {result['python_share_of_ceiling']}"
        )
        return result

    async def mixed(self) -> dict[str, Any]:
        plan = MixedPlan(sockets=self.args.mixed_sockets, duration_s=self.args.mixed_duration,
                         workers=self.args.workers)  # fmt: skip
        return await measure_mixed(plan, self.log_dir, self.args.app_root)

    async def run(self) -> None:
        say(f"machine: {json.dumps(self.results['machine'])}")
        jobs = {
            "a": ("a_funding_vs_health", self.funding_vs_health),
            "c": ("c_idle_memory", self.idle_memory),
            "b": ("b_event_latency", self.fanout),
            "d": ("d_lua_funding", self.lua),
            "e": ("e_http_under_fanout", self.mixed),
        }
        for key, (name, job) in jobs.items():
            if key in self.args.only:
                await self.guarded(name, job)
        say(f"\nresults written to {self.args.out}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="abcde", help="which benchmarks, e.g. 'ad' (default: all)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "loadtest-results" / "bench.json")
    parser.add_argument("--workers", type=int, default=2, help="WORKERS for the app")
    parser.add_argument("--invoices", type=int, default=15000, help="a: listed invoices prepared for funding")
    parser.add_argument("--window", type=float, default=3.0, help="a: seconds per measured window (3 rounds)")
    parser.add_argument("--concurrency", type=int, default=32, help="a: concurrent HTTP requests")
    parser.add_argument("--clients", default="1000,5000", help="b: WebSocket client counts")
    parser.add_argument("--events", type=int, default=30, help="b: measured broadcasts per client count")
    parser.add_argument("--rate", type=float, default=1.0, help="b: broadcasts per second")
    parser.add_argument(
        "--ws-modes",
        default="browser,plain",
        help="b, c: 'browser' clients offer permessage-deflate as browsers do; 'plain' clients offer no extension",
    )
    parser.add_argument("--fanout-workers", default="1,2", help="b: WORKERS for the app, one app each")
    parser.add_argument("--fanout-servers", default=",".join(FANOUT_SERVERS),
                        help="b: which of raw, socketio, quart, app, appsio (our /socket.io/) to measure")  # fmt: skip
    parser.add_argument("--app-root", type=Path, default=PROJECT_ROOT,
                        help="the checkout whose app.py is run (for a before/after comparison)")  # fmt: skip
    parser.add_argument("--mixed-sockets", default="0,200,2000", help="e: WebSocket clients, one run each")
    parser.add_argument("--mixed-duration", type=float, default=10.0, help="e: seconds of load per run")
    parser.add_argument("--idle-sockets", type=int, default=2000, help="c: idle sockets opened")
    parser.add_argument("--client-processes-idle", type=int, default=2, help="c: client processes")
    parser.add_argument("--idle-socketio", action="store_true",
                        help="c: also our /socket.io/ beside native Socket.IO 4.8 (node)")  # fmt: skip
    parser.add_argument("--lua-calls", type=int, default=10000, help="d: fundings per side and round (3 rounds)")
    args = parser.parse_args(argv)
    args.only = "".join(c for c in args.only if c in BENCHMARKS) or "".join(BENCHMARKS)
    args.clients = [int(n) for n in str(args.clients).split(",") if n.strip()]
    args.mixed_sockets = [int(n) for n in str(args.mixed_sockets).split(",") if n.strip()]
    args.fanout_workers = [int(n) for n in str(args.fanout_workers).split(",") if n.strip()]
    args.fanout_servers = [n for n in str(args.fanout_servers).split(",") if n in FANOUT_SERVERS]
    args.ws_modes = [m for m in str(args.ws_modes).split(",") if m in ("browser", "plain")] or ["browser"]
    return args


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="loadtest-bench-") as scratch:
        log_dir = Path(scratch)
        bench = Bench(args, log_dir)
        try:
            asyncio.run(bench.run())
        finally:
            for log in sorted(log_dir.glob("*.log")):  # keep the server logs beside the results
                target = args.out.parent / f"bench-{log.name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(log.read_bytes()[-200_000:])
    failed = [name for name, value in bench.results.items() if isinstance(value, dict) and "error" in value]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
