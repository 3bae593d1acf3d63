"""The HTTP calls the generator makes, each timed and classified into OperationStats."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from finance.outcomes import Outcome
from loadtest.stats import OperationStats

REQUEST_TIMEOUT_S = 15.0


@dataclass
class Response:
    status: int  # 0 when the request failed without a response
    body: Any
    sent_at: float  # time.time() when the request was sent; comparable with WebSocket receipts

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return str(code) if code is not None else None
        return None


@dataclass
class User:
    id: str
    role: str
    token: str
    email: str


def make_session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, ttl_dns_cache=None)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))


class Api:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.stats: dict[str, OperationStats] = {}

    def stats_for(self, operation: str) -> OperationStats:
        return self.stats.setdefault(operation, OperationStats())

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        refusals: frozenset[str] = frozenset(),
    ) -> Response:
        """One request; `refusals` are error codes that are an expected outcome, not an error."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        sent_at = time.time()
        started = time.perf_counter()
        try:
            async with self.session.request(method, self.base_url + path, data=data, headers=headers) as reply:
                raw = await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            latency_ms = (time.perf_counter() - started) * 1000
            self.stats_for(operation).record(latency_ms, f"exception {type(exc).__name__}", "error")
            return Response(0, None, sent_at)
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            decoded = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            decoded = None
        response = Response(status, decoded, sent_at)
        code = response.error_code
        outcome = str(status) if code is None else f"{status} {code}"
        if response.ok:
            kind = "ok"
        elif code is not None and code in refusals:
            kind = "refused"
        else:
            kind = "error"
        self.stats_for(operation).record(latency_ms, outcome, kind)
        return response

    async def register(self, name: str, email: str, role: str, company: str | None = None) -> User | None:
        body: dict[str, Any] = {
            "name": name,
            "email": email,
            "password": "load-test-password-1",
            "role": role,
        }
        if company:
            body["company"] = company
        response = await self.call("register", "POST", "/api/auth/register", body=body)
        if not response.ok or not isinstance(response.body, dict):
            return None
        return User(id=str(response.body["user"]["id"]), role=role, token=response.body["token"], email=email)

    async def deposit(self, user: User, amount: int, operation: str = "deposit") -> Response:
        return await self.call(operation, "POST", "/api/wallet/deposit", token=user.token, body={"amount": amount})

    async def create_invoice(self, seller: User, body: dict[str, Any]) -> Response:
        return await self.call("create", "POST", "/api/invoices/create", token=seller.token, body=body)

    async def fund(self, investor: User, invoice_id: str, amount: int) -> Response:
        return await self.call(
            "fund",
            "POST",
            f"/api/invoices/{invoice_id}/fund",
            token=investor.token,
            body={"amount": amount},
            refusals=frozenset({Outcome.INVOICE_NOT_LISTED.value}),
        )

    async def buy_claim(self, investor: User, invoice_id: str, claim: int) -> Response:
        return await self.call(
            "claim", "POST", f"/api/invoices/{invoice_id}/fund", token=investor.token, body={"claim": claim},
            # the racers' claims that no longer fit, or that land once the invoice is full
            refusals=frozenset({Outcome.CLAIM_OUT_OF_RANGE.value, Outcome.INVOICE_NOT_LISTED.value}),
        )

    async def place_bid(self, investor: User, invoice_id: str, amount: int) -> Response:
        return await self.call(
            "bid", "POST", f"/api/invoices/{invoice_id}/bids", token=investor.token, body={"amount": amount},
            # a bid that lands after the seller accepted another is the race's expected loser
            refusals=frozenset({Outcome.INVOICE_NOT_LISTED.value, Outcome.INSUFFICIENT_FUNDS.value}),
        )

    async def list_bids(self, seller: User, invoice_id: str) -> Response:
        return await self.call("bids", "GET", f"/api/invoices/{invoice_id}/bids", token=seller.token)

    async def accept_bid(self, seller: User, invoice_id: str, bid_id: str) -> Response:
        return await self.call("accept-bid", "POST", f"/api/invoices/{invoice_id}/bids/{bid_id}/accept",
                               token=seller.token)

    async def repay(self, buyer: User, invoice_id: str) -> Response:
        return await self.call("repay", "POST", f"/api/invoices/{invoice_id}/repay", token=buyer.token)

    async def health(self) -> Response:
        return await self.call("health", "GET", "/health")
