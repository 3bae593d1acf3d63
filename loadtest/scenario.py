"""The load generator's workload: register users, deposit, then concurrent invoice flows in which
a seller lists an invoice, several investors race to fund it (exactly one may win), and the buyer
repays some; WebSocket clients of those users are connected throughout.
"""

from __future__ import annotations

import asyncio
import functools
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loadtest.api import Api, Response, User, make_session
from loadtest.events import CREATE, FUND, REPAY, TriggerLog
from loadtest.wsclients import PoolResult, WsClientPool

DURATION_MAX_S = 3600.0
OPERATIONS_MAX = 10_000_000
WS_CLIENTS_MAX = 20_000  # file descriptors are the limit: `ulimit -n` is 20,000 here
STARTING_BALANCE = 10**14  # paise; ample for every flow, below the 10^15 balance cap
TOP_UP_AMOUNT = 100_000  # Rs 1,000.00, the small deposits made during the run
INVOICE_AMOUNT_MIN = 10_000_000  # Rs 1,00,000.00
INVOICE_AMOUNT_MAX = 500_000_000  # Rs 50,00,000.00


@dataclass
class LoadConfig:
    url: str
    sellers: int = 4
    investors: int = 8
    buyers: int = 4
    ws_clients: int = 50
    ws_processes: int = 0  # 0: one per 500 sockets, 1 to 4
    ws_deflate: bool = False  # offer permessage-deflate, as browsers do
    duration_s: float = 10.0
    operations: int | None = None
    concurrency: int = 16
    flow_rate: float = 0.0  # invoice flows started per second; 0: as fast as `concurrency` allows
    race: int = 3
    # or "auction": racers bid, the seller accepts the best while more bids race in; or "fractional": the
    # invoice sells in claims of a minimum ticket, racers buy one each and then race for the last one
    scenario: str = "buy-now"
    repay_fraction: float = 0.5
    deposit_fraction: float = 0.05
    drain_s: float = 2.0
    seed: int | None = None
    redis_url: str | None = None
    out: Path | None = None
    progress: bool = True

    def validate(self) -> None:
        if not 0 < self.duration_s <= DURATION_MAX_S:
            raise ValueError(f"duration must be in (0, {DURATION_MAX_S}] seconds")
        if self.operations is not None and not 0 < self.operations <= OPERATIONS_MAX:
            raise ValueError(f"operations must be in (0, {OPERATIONS_MAX}]")
        if min(self.sellers, self.investors, self.buyers, self.concurrency, self.race) < 1:
            raise ValueError("sellers, investors, buyers, concurrency and race must be at least 1")
        if not 0 <= self.ws_clients <= WS_CLIENTS_MAX:
            raise ValueError(f"ws-clients must be in [0, {WS_CLIENTS_MAX}]")
        if self.flow_rate < 0:
            raise ValueError("flow-rate must be >= 0")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}")


@dataclass
class Users:
    sellers: list[User]
    investors: list[User]
    buyers: list[User]

    @property
    def everyone(self) -> list[User]:
        return [*self.sellers, *self.investors, *self.buyers]


@dataclass
class RunState:
    triggers: TriggerLog = field(default_factory=TriggerLog)
    fund_wins: dict[str, int] = field(default_factory=dict)  # invoice id -> 2xx fund responses
    requests: int = 0
    invoice_counter: int = 0


async def bounded_gather(concurrency: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


async def register_users(api: Api, config: LoadConfig, run_id: str) -> Users:
    def job(role: str, index: int) -> Callable[[], Awaitable[User | None]]:
        email = f"lt-{run_id}-{role}-{index}@example.test"
        company = f"Load {role.title()} {index} Pvt Ltd" if role != "investor" else None
        return lambda: api.register(f"Load {role} {index}", email, role, company)

    counts = {"seller": config.sellers, "investor": config.investors, "buyer": config.buyers}
    jobs = [job(role, index) for role, count in counts.items() for index in range(count)]
    registered = [user for user in await bounded_gather(config.concurrency, jobs) if user is not None]
    users = Users(
        sellers=[u for u in registered if u.role == "seller"],
        investors=[u for u in registered if u.role == "investor"],
        buyers=[u for u in registered if u.role == "buyer"],
    )
    if not (users.sellers and users.investors and users.buyers):
        statuses = api.stats_for("register").statuses
        raise RuntimeError(f"registration failed for a whole role; responses: {statuses}")
    return users


async def fund_starting_balances(api: Api, config: LoadConfig, users: Users) -> None:
    payers = [*users.investors, *users.buyers]
    jobs = [functools.partial(api.deposit, user, STARTING_BALANCE) for user in payers]
    responses = await bounded_gather(config.concurrency, jobs)
    if not any(response.ok for response in responses):
        raise RuntimeError(f"every deposit failed; responses: {api.stats_for('deposit').statuses}")


def due_date(days_ahead: int) -> str:
    moment = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days_ahead)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Workload:
    """Concurrent invoice flows until the time or the operation budget runs out."""

    def __init__(self, api: Api, users: Users, config: LoadConfig, run_id: str, state: RunState) -> None:
        self.api = api
        self.users = users
        self.config = config
        self.run_id = run_id
        self.state = state
        self.random = random.Random(config.seed)
        self.deadline = 0.0
        self.next_slot = 0.0

    def exhausted(self) -> bool:
        if time.monotonic() >= self.deadline:
            return True
        return self.config.operations is not None and self.state.requests >= self.config.operations

    async def run(self) -> float:
        started = time.monotonic()
        self.deadline = started + self.config.duration_s
        self.next_slot = started
        await asyncio.gather(*(self.flow_loop() for _ in range(self.config.concurrency)))
        return time.monotonic() - started

    async def flow_loop(self) -> None:
        while not self.exhausted():
            if self.config.flow_rate > 0:  # open loop: flows start on a schedule, not when others end
                slot, self.next_slot = self.next_slot, self.next_slot + 1.0 / self.config.flow_rate
                await asyncio.sleep(max(0.0, slot - time.monotonic()))
                if self.exhausted():
                    return
            await self.flow()
            if self.random.random() < self.config.deposit_fraction and not self.exhausted():
                self.state.requests += 1
                await self.api.deposit(self.random.choice(self.users.everyone), TOP_UP_AMOUNT, "top-up")

    async def flow(self) -> None:
        rnd = self.random
        seller, buyer = rnd.choice(self.users.sellers), rnd.choice(self.users.buyers)
        self.state.invoice_counter += 1
        amount = rnd.randrange(INVOICE_AMOUNT_MIN, INVOICE_AMOUNT_MAX)
        ask_amount = amount * rnd.randint(85, 98) // 100
        fractional = self.config.scenario == "fractional"
        ticket = -(-amount // max(2, self.config.race))  # ceil: the last racer's ticket no longer fits
        body = {
            **({"minTicket": ticket} if fractional else {}),
            "invoiceNumber": f"LT-{self.run_id}-{self.state.invoice_counter}",
            "buyerId": buyer.id,
            "amount": amount,
            "askAmount": ask_amount,
            "dueDate": due_date(rnd.randint(30, 180)),
            "description": "load test invoice",
        }
        self.state.requests += 1
        created = await self.api.create_invoice(seller, body)
        if not created.ok or not isinstance(created.body, dict):
            return
        invoice_id = str(created.body["invoice"]["id"])
        self.state.triggers.record(CREATE, invoice_id, created.sent_at)
        if self.exhausted():
            return
        racers = rnd.sample(self.users.investors, min(self.config.race, len(self.users.investors)))
        offers = [rnd.randint(ask_amount, amount) for _ in racers]
        self.state.requests += len(racers)
        if self.config.scenario == "auction":
            winners = await self.auction(seller, invoice_id, racers, offers, amount)
        elif fractional:
            winners = await self.claims(invoice_id, racers, ticket, amount)
        else:
            results = await asyncio.gather(
                *(self.api.fund(investor, invoice_id, offer) for investor, offer in zip(racers, offers, strict=True))
            )
            winners = [result for result in results if result.ok]
        self.state.fund_wins[invoice_id] = len(winners)
        if not winners:
            return
        self.state.triggers.record(FUND, invoice_id, winners[0].sent_at)
        if rnd.random() < self.config.repay_fraction and not self.exhausted():
            self.state.requests += 1
            repaid = await self.api.repay(buyer, invoice_id)
            if repaid.ok:
                self.state.triggers.record(REPAY, invoice_id, repaid.sent_at)


    async def auction(self, seller: User, invoice_id: str, racers: list[User], offers: list[int],
                      face: int) -> list[Response]:
        """Every racer bids; the seller reads the bids and accepts the best while the racers raise their
        bids at the same moment (those that land after the acceptance are refused and moved nothing)."""
        placed = await asyncio.gather(
            *(self.api.place_bid(investor, invoice_id, offer) for investor, offer in zip(racers, offers, strict=True))
        )
        if not any(result.ok for result in placed):
            return []
        self.state.requests += 1
        page = await self.api.list_bids(seller, invoice_id)
        bids = page.body.get("bids", []) if page.ok and isinstance(page.body, dict) else []
        if not bids:
            return []
        self.state.requests += 1 + len(racers)
        raised = [self.api.place_bid(investor, invoice_id, min(offer + 1, face))
                  for investor, offer in zip(racers, offers, strict=True)]
        accepted, *_ = await asyncio.gather(self.api.accept_bid(seller, invoice_id, str(bids[0]["id"])), *raised)
        return [accepted] if accepted.ok else []


    async def claims(self, invoice_id: str, racers: list[User], ticket: int, face: int) -> list[Response]:
        """Every racer buys a ticket at once (those that no longer fit are refused `claim_out_of_range`),
        then every racer races for exactly what is left: one fills the invoice, the others are refused
        `invoice_not_listed`. Returns the answers that filled it: exactly one, or none if none fitted."""
        first = await asyncio.gather(*(self.api.buy_claim(racer, invoice_id, ticket) for racer in racers))
        sold = sum(ticket for answer in first if answer.ok)
        fills = [answer for answer in first if answer.ok and _filled(answer)]
        if sold >= face or not sold:
            return fills
        self.state.requests += len(racers)
        last = await asyncio.gather(*(self.api.buy_claim(racer, invoice_id, face - sold) for racer in racers))
        return fills + [answer for answer in last if answer.ok and _filled(answer)]


def _filled(answer: Response) -> bool:
    return isinstance(answer.body, dict) and answer.body.get("invoice", {}).get("status") == "funded"


SCENARIOS = ("buy-now", "auction", "fractional")


def ws_url(base_url: str, token: str) -> str:
    scheme, rest = base_url.rstrip("/").split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?token={token}"


async def progress_loop(api: Api, pool: WsClientPool | None, started: float) -> None:
    previous_requests, previous_events, previous_at = 0, 0, time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        stats = api.stats
        requests = sum(s.count for name, s in stats.items() if name not in ("register", "deposit"))
        events = pool.received() if pool else 0
        span = max(now - previous_at, 1e-9)
        fund = stats.get("fund")
        errors = sum(s.errors for s in stats.values())
        print(
            f"[{now - started:6.1f}s] requests {requests} ({(requests - previous_requests) / span:.0f}/s)"
            f"  created {stats['create'].successes if 'create' in stats else 0}"
            f"  funded {fund.successes if fund else 0} lost-races {fund.expected_refusals if fund else 0}"
            f"  repaid {stats['repay'].successes if 'repay' in stats else 0}  errors {errors}"
            f"  | ws frames {events} ({(events - previous_events) / span:.0f}/s)",
            file=sys.stderr,
            flush=True,
        )
        previous_requests, previous_events, previous_at = requests, events, now


async def drain_events(pool: WsClientPool, drain_s: float) -> None:
    """Wait until the frame count stops growing (in-flight events land), at most drain_s."""
    deadline = time.monotonic() + drain_s
    last = pool.received()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        current = pool.received()
        if current == last:
            return
        last = current


@dataclass
class LoadOutcome:
    config: LoadConfig
    run_id: str
    api: Api
    state: RunState
    setup_s: float
    run_s: float
    ws_connected: dict[str, Any]
    ws_result: PoolResult | None


async def run_load(config: LoadConfig) -> LoadOutcome:
    config.validate()
    run_id = secrets.token_hex(4)
    state = RunState()
    connections = config.concurrency * config.race + 8
    pool: WsClientPool | None = None
    ws_connected: dict[str, Any] = {}
    async with make_session(connections) as session:
        api = Api(config.url, session)
        setup_started = time.monotonic()
        users = await register_users(api, config, run_id)
        await fund_starting_balances(api, config, users)
        setup_s = time.monotonic() - setup_started
        everyone = users.everyone
        try:
            if config.ws_clients:
                urls = [ws_url(config.url, everyone[i % len(everyone)].token) for i in range(config.ws_clients)]
                processes = config.ws_processes or min(4, max(1, -(-config.ws_clients // 500)))
                pool = WsClientPool(urls, processes, lifetime_s=config.duration_s + 300, deflate=config.ws_deflate)
                ws_connected = await pool.start()
                if config.progress:
                    print(f"websockets connected: {ws_connected}", file=sys.stderr, flush=True)
            workload = Workload(api, users, config, run_id, state)
            progress = asyncio.create_task(progress_loop(api, pool, time.monotonic())) if config.progress else None
            try:
                run_s = await workload.run()
                if pool is not None:
                    await drain_events(pool, config.drain_s)
            finally:
                if progress is not None:
                    progress.cancel()
            ws_result = await pool.stop() if pool is not None else None
        finally:
            if pool is not None:
                pool.terminate()
    return LoadOutcome(config, run_id, api, state, setup_s, run_s, ws_connected, ws_result)
