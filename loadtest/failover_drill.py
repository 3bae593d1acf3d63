"""The failover drill: SIGKILL the master of a market's slot under a stream of fundings, and count.

On a local Redis Cluster (6 nodes, 3 masters with a replica each, node timeout 1 s) and the app with
REDIS_CLUSTER=1 and REPLICA_ACKS=1, concurrent workers each list an invoice and fund it, retrying any
503 with the same Idempotency-Key as a client should. Then the master of the market's slot is killed
(SIGKILL), its replica is promoted by the cluster, and the killed node is started again as an operator
would (it rejoins as the new master's replica; until then the new master has no replica, so movements
answer 503 replication_unconfirmed). The drill prints:

- acknowledged movements lost: every create and funding that got a 2xx must be in Redis afterwards (0);
- how long requests failed (first to last refused attempt) and the refusals by code;
- kill -> promoted, kill -> rejoined, kill -> first success after the failover;
- the ledger check (``python -m finance check``) on the market afterwards;
- a socket open through the drill: whether events kept coming, and what a reconnect with since= says.

    python -m loadtest.failover_drill                      # defaults: 8 workers, 3 s before, 3 s after
    python -m loadtest.failover_drill --workers 16 --before 5 --after 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis

from finance.keys import Keys
from loadtest.api import Api, User, make_session
from loadtest.redis_cluster import RedisCluster
from loadtest.servers import PROJECT_ROOT, Managed, start_app

RETRY_PAUSE_SECONDS = 0.05
EVENTS_WAIT_SECONDS_MAX = 10.0  # after the workers finish, how long the socket may take to get the last events
FINISH_SECONDS_MAX = 60.0  # after the stop, how long the workers may take to get their last item acknowledged
INVESTOR_MONEY = 10**12  # paise: enough for every funding of the drill


@dataclass
class Attempt:
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: no answer (connection refused or reset)
    code: str | None


@dataclass
class Movement:
    """One create or funding, sent until acknowledged, always with its one Idempotency-Key."""

    kind: str
    key: str
    attempts: list[Attempt] = field(default_factory=list)
    body: Any = None  # the 2xx answer

    @property
    def acknowledged(self) -> bool:
        return self.body is not None


@dataclass
class Funded:
    invoice_id: str
    investor_id: str
    investment_id: str
    amount: int


@dataclass
class SocketLog:
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None


@dataclass
class DrillReport:
    market: str
    workers: int
    acknowledged: Counter[str]
    lost: list[str]
    refused: Counter[str]
    # code -> (first attempt's start, last attempt's end), seconds after the kill
    refused_spans: dict[str, tuple[float, float]]
    unexpected: Counter[str]
    refusal_seconds: float
    promoted_seconds: float
    rejoined_seconds: float
    first_success_seconds: float | None
    ledger_ok: bool
    ledger_output: str
    socket_events_before_kill: int
    socket_events_after_rejoin: int
    socket_in_order: bool
    socket_close_code: int | None
    socket_missed_acknowledged: int
    reconnect_recovered: bool | None

    def lines(self) -> list[str]:
        acknowledged = ", ".join(f"{count} {kind}" for kind, count in sorted(self.acknowledged.items()))
        refused = ", ".join(
            f"{count} x {code} ({self.refused_spans[code][0]:.2f}..{self.refused_spans[code][1]:.2f} s after the kill)"
            for code, count in self.refused.most_common()) or "none"
        return [
            f"market {self.market} with {self.workers} workers, REPLICA_ACKS=1",
            f"acknowledged (2xx): {acknowledged}",
            f"acknowledged movements lost: {len(self.lost)}" + (f" ({', '.join(self.lost[:5])})" if self.lost else ""),
            f"requests failed for {self.refusal_seconds:.2f} s (first to last refused attempt); refusals: {refused}",
            f"kill -> replica promoted: {self.promoted_seconds:.2f} s; kill -> old master rejoined as replica: "
            f"{self.rejoined_seconds:.2f} s; kill -> first success after: "
            + (f"{self.first_success_seconds:.2f} s" if self.first_success_seconds is not None else "none"),
            "unexpected answers: " + (", ".join(f"{n} x {code}" for code, n in self.unexpected.items()) or "none"),
            f"ledger check: {'OK' if self.ledger_ok else 'BROKEN'}",
            f"socket: {self.socket_events_before_kill} events before the kill, {self.socket_events_after_rejoin} "
            f"after the rejoin, in order: {self.socket_in_order}, closed: {self.socket_close_code or 'no'}, "
            f"acknowledged fundings whose market event it missed: {self.socket_missed_acknowledged}",
            f"reconnect with since=<last ids>: recovered={self.reconnect_recovered}",
        ]


class Drill:
    def __init__(self, cluster: RedisCluster, app_url: str, market: str, workers: int) -> None:
        self.cluster = cluster
        self.app_url = app_url
        self.market = market
        self.workers = workers
        self.stop = asyncio.Event()
        self.movements: list[Movement] = []
        self.funded: list[Funded] = []
        self.unexpected: Counter[str] = Counter()

    async def send(self, api: Api, kind: str, path: str, token: str, body: Any, key: str) -> Movement:
        """Sends until a 2xx, retrying 503s and lost connections with the same Idempotency-Key."""
        movement = Movement(kind, key)
        self.movements.append(movement)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        deadline = None
        while True:
            started = time.monotonic()
            status, answer = 0, None
            try:
                async with api.session.post(self.app_url + path, json=body, headers=headers) as reply:
                    status = reply.status
                    answer = await reply.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
                pass
            code = answer["error"]["code"] if isinstance(answer, dict) and "error" in answer else None
            movement.attempts.append(Attempt(started, time.monotonic(), status, code))
            if 200 <= status < 300:
                movement.body = answer
                return movement
            if status not in (0, 503):
                self.unexpected[f"{status} {code}"] += 1
                return movement
            if self.stop.is_set():
                deadline = deadline or time.monotonic() + FINISH_SECONDS_MAX
                if time.monotonic() > deadline:
                    return movement
            await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def worker(self, api: Api, number: int, seller: User, buyer: User, investor: User) -> None:
        serial = 0
        while not self.stop.is_set():
            serial += 1
            due = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 30 * 86_400))
            created = await self.send(api, "create", "/api/invoices/create", seller.token, {
                "invoiceNumber": f"DRILL-{number}-{serial}", "buyerId": buyer.id, "amount": 100_000,
                "askAmount": 90_000, "dueDate": due,
            }, f"create-{number}-{serial}")
            if not created.acknowledged:
                continue
            invoice_id = created.body["invoice"]["id"]
            funding = await self.send(api, "fund", f"/api/invoices/{invoice_id}/fund", investor.token,
                                      {"amount": 95_000}, f"fund-{number}-{serial}")
            if funding.acknowledged:
                self.funded.append(Funded(invoice_id, investor.id, funding.body["investment"]["id"], 95_000))

    async def watch(self, socket_url: str, log: SocketLog) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(socket_url, heartbeat=None) as ws:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    log.frames.append((time.monotonic(), json.loads(message.data)))
            log.close_code = ws.close_code

    async def run(self, before_seconds: float, after_seconds: float) -> DrillReport:
        async with make_session(self.workers * 2 + 4) as session:
            api = Api(self.app_url, session)
            seller = await api.register("Drill Seller", f"seller-{self.market}@drill.example", "seller", "Drill Pvt")
            buyer = await api.register("Drill Buyer", f"buyer-{self.market}@drill.example", "buyer", "Buyer Corp")
            investors = [await api.register(f"Investor {n}", f"investor{n}-{self.market}@drill.example", "investor")
                         for n in range(self.workers)]
            if seller is None or buyer is None or None in investors:
                raise RuntimeError("could not register the drill's users")
            actors = [investor for investor in investors if investor is not None]
            for investor in actors:
                if not (await api.deposit(investor, INVESTOR_MONEY)).ok:
                    raise RuntimeError("could not fund the drill's investors")
            ws_base = self.app_url.replace("http://", "ws://") + f"/ws?token={actors[0].token}"
            socket_log = SocketLog()
            watcher = asyncio.create_task(self.watch(ws_base, socket_log))
            await asyncio.sleep(0.3)
            tasks = [asyncio.create_task(self.worker(api, n, seller, buyer, actors[n])) for n in range(self.workers)]
            await asyncio.sleep(before_seconds)

            master = self.cluster.master_of(self.market)
            killed_at = time.monotonic()
            self.cluster.kill(master)
            new_master = await asyncio.to_thread(self.cluster.wait_master_is_not, self.market, master)
            promoted_at = time.monotonic()
            # the operator starts the killed node again: it rejoins as the new master's replica
            await asyncio.to_thread(self.cluster.start_node, master)
            await asyncio.to_thread(self.cluster.wait_replicas, new_master)
            rejoined_at = time.monotonic()
            await asyncio.sleep(after_seconds)
            self.stop.set()
            await asyncio.gather(*tasks)
            # the last events reach the socket: until every acknowledged funding's event came, or 10 s
            deadline = time.monotonic() + EVENTS_WAIT_SECONDS_MAX
            while time.monotonic() < deadline and any(  # noqa: ASYNC110 (the watcher fills the log, polled)
                    funded.invoice_id not in funded_seen(socket_log) for funded in self.funded):
                await asyncio.sleep(0.05)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            recovered = await self.reconnect(ws_base, socket_log)
        lost = await asyncio.to_thread(self.lost)
        ledger_ok, ledger_output = await asyncio.to_thread(self.check_ledger)
        return self.report(killed_at, promoted_at, rejoined_at, lost, ledger_ok, ledger_output, socket_log,
                           recovered)

    async def reconnect(self, ws_base: str, log: SocketLog) -> bool | None:
        last = {"user": "", "market": ""}
        for _, frame in log.frames:
            if frame.get("type") == "event":
                last[frame["stream"]] = frame["id"]
        query = "".join(f"&{name}={value}" for name, value in
                        (("since", last["user"]), ("marketSince", last["market"])) if value)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_base + query) as ws:
            hello = await ws.receive_json(timeout=10)
        return bool(hello.get("recovered")) if hello.get("type") == "hello" else None

    def lost(self) -> list[str]:
        """The acknowledged movements Redis does not hold after the failover."""
        keys = Keys(self.market)
        host, port = self.cluster.running()[0].address.split(":")
        client = redis.RedisCluster(host=host, port=int(port), decode_responses=True)
        try:
            missing = []
            for movement in self.movements:
                if movement.kind == "create" and movement.acknowledged:
                    invoice_id = movement.body["invoice"]["id"]
                    if not client.exists(keys.invoice(invoice_id)):
                        missing.append(f"create {invoice_id}")
            for funded in self.funded:
                status, investor_id, investment_id = client.hmget(
                    keys.invoice(funded.invoice_id), ["status", "investorId", "investmentId"])
                amount = client.hget(keys.investment(funded.investment_id), "amount")
                if (status, investor_id, investment_id, amount) != (
                        "funded", funded.investor_id, funded.investment_id, str(funded.amount)):
                    missing.append(f"fund {funded.invoice_id}")
            return missing
        finally:
            client.close()

    def check_ledger(self) -> tuple[bool, str]:
        env = {**os.environ, "REDIS_URL": f"redis://{self.cluster.running()[0].address}/0", "REDIS_CLUSTER": "1",
               "MARKET": self.market}
        done = subprocess.run([sys.executable, "-m", "finance", "check"], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        return done.returncode == 0, (done.stdout + done.stderr).strip()

    def report(self, killed_at: float, promoted_at: float, rejoined_at: float, lost: list[str], ledger_ok: bool,
               ledger_output: str, socket_log: SocketLog, recovered: bool | None) -> DrillReport:
        attempts = [attempt for movement in self.movements for attempt in movement.attempts]
        failed = [attempt for attempt in attempts if not 200 <= attempt.status < 300]
        refused = Counter(attempt.code or ("no answer" if attempt.status == 0 else str(attempt.status))
                          for attempt in failed)
        spans: dict[str, tuple[float, float]] = {}
        for attempt in failed:
            code = attempt.code or ("no answer" if attempt.status == 0 else str(attempt.status))
            first, last = spans.get(code, (attempt.started - killed_at, attempt.ended - killed_at))
            spans[code] = (min(first, attempt.started - killed_at), max(last, attempt.ended - killed_at))
        refusal_seconds = max(a.ended for a in failed) - min(a.started for a in failed) if failed else 0.0
        last_failure = max((a.ended for a in failed), default=killed_at)
        successes_after = [a.ended for a in attempts if 200 <= a.status < 300 and a.started >= last_failure]
        events = [(at, frame) for at, frame in socket_log.frames if frame.get("type") == "event"]
        in_order = True
        for stream in ("user", "market"):
            ids = [_order(frame["id"]) for _, frame in events if frame["stream"] == stream]
            in_order = in_order and all(later > earlier for earlier, later in itertools.pairwise(ids))
        seen = funded_seen(socket_log)
        return DrillReport(
            market=self.market, workers=self.workers,
            acknowledged=Counter(m.kind for m in self.movements if m.acknowledged), lost=lost, refused=refused,
            refused_spans=spans,
            unexpected=self.unexpected, refusal_seconds=refusal_seconds,
            promoted_seconds=promoted_at - killed_at, rejoined_seconds=rejoined_at - killed_at,
            first_success_seconds=(min(successes_after) - killed_at) if successes_after else None,
            ledger_ok=ledger_ok, ledger_output=ledger_output,
            socket_events_before_kill=sum(1 for at, _ in events if at < killed_at),
            socket_events_after_rejoin=sum(1 for at, _ in events if at > rejoined_at),
            socket_in_order=in_order, socket_close_code=socket_log.close_code,
            socket_missed_acknowledged=sum(1 for funded in self.funded if funded.invoice_id not in seen),
            reconnect_recovered=recovered,
        )


def funded_seen(log: SocketLog) -> set[str]:
    """The invoices whose market event ``invoiceUpdated`` ``funded`` the socket received."""
    return {frame["data"].get("id") for _, frame in log.frames if frame.get("type") == "event"
            and frame["event"] == "invoiceUpdated" and frame["data"].get("status") == "funded"}


def _order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def start_drill_app(cluster: RedisCluster, market: str, log_dir: Path) -> Managed:
    """``python app.py`` on the cluster with REPLICA_ACKS=1, one worker."""
    return start_app(cluster.url, log_dir, workers=1, extra_env={
        "REDIS_CLUSTER": "1", "REPLICA_ACKS": "1", "MARKET": market, "AGING_INTERVAL_SECONDS": "0",
        "PASSWORD_HASH_COST": "4",
    })


async def run_drill(workers: int = 8, before_seconds: float = 3.0, after_seconds: float = 3.0) -> DrillReport:
    """A cluster and an app of its own, the drill, and everything stopped after."""
    cluster = RedisCluster()
    cluster.start()
    try:
        market = cluster.market_on(cluster.masters()[0], "drill")
        with tempfile.TemporaryDirectory(prefix="failover-drill-") as log_dir:
            app = start_drill_app(cluster, market, Path(log_dir))
            try:
                return await Drill(cluster, app.url, market, workers).run(before_seconds, after_seconds)
            finally:
                app.stop()
    finally:
        cluster.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.failover_drill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8, help="concurrent create-and-fund loops")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of fundings before the kill")
    parser.add_argument("--after", type=float, default=3.0, help="seconds of fundings after the rejoin")
    args = parser.parse_args(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    report = asyncio.run(run_drill(args.workers, args.before, args.after))
    for line in report.lines():
        print(line)
    return 0 if not report.lost and report.ledger_ok else 1


if __name__ == "__main__":
    sys.exit(main())
