"""A randomized sequence over every marketplace operation (hypothesis stateful): bids placed, replaced
and withdrawn, bids accepted, buy-now, claims bought of fractional invoices, cancel, deposits,
repayments, limits, time passing with the aging task (deadlines, defaults), new invoices of both
kinds. After every step the ledger check passes (nothing created or lost, escrow == pending bids or
claims, closed invoices hold nothing), exposure is what is held and bid, and no answer is a 5xx."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import fakeredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app import create_app
from finance.books import ledger
from finance.clock import FixedClock, iso_from_ms
from finance.market import Market
from finance.marketplace import aging
from tests.conftest import TEST_SETTINGS
from tests.helpers.api import START_MS, Actor, create_invoice, deposit, register

FACE, ASK = 1_000_000, 900_000
INVESTORS = 4
# what a refusal may be; anything else (a 5xx above all) fails the run
ANSWERS = {200, 201, 204, 400, 403, 404, 409, 422}


class Marketplace(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FixedClock(START_MS)
        app_settings = replace(TEST_SETTINGS, platform_fee_bps=150, bids_per_invoice_max=3)
        self.app = create_app(app_settings, redis_server=fakeredis.FakeServer(), clock=self.clock)
        self.test_app = self.app.test_app()
        self.run(self.test_app.startup())
        self.client = self.app.test_client()
        self.market: Market = self.app.extensions["market"]
        self.seller = self.run(register(self.client, "seller"))
        self.buyer = self.run(register(self.client, "buyer"))
        self.investors: list[Actor] = [self.run(register(self.client, "investor")) for _ in range(INVESTORS)]
        for investor in self.investors:
            self.run(deposit(self.client, investor, 3_000_000))
        self.run(deposit(self.client, self.buyer, 100_000_000))
        self.invoices: list[str] = []
        self.new_invoice()

    def run(self, step: Any) -> Any:
        return self.loop.run_until_complete(step)

    def answer(self, response: Any) -> Any:
        assert response.status_code in ANSWERS, self.run(response.get_data(as_text=True))
        return response

    def post(self, path: str, actor: Actor, body: Any = None) -> Any:
        return self.answer(self.run(self.client.post(path, json=body, headers=actor.headers)))

    @rule()
    def new_invoice(self) -> None:
        invoice = self.run(create_invoice(self.client, self.seller, self.buyer, amount=FACE, ask_amount=ASK,
                                          due_days=10, now_ms=self.clock.epoch_ms))
        self.invoices.append(invoice["id"])

    @rule(ticket=st.integers(1, FACE), deadline_hours=st.none() | st.integers(1, 240))
    def new_fractional_invoice(self, ticket: int, deadline_hours: int | None) -> None:
        extra: dict[str, Any] = {"minTicket": ticket}
        if deadline_hours is not None:
            extra["fundingDeadline"] = iso_from_ms(self.clock.epoch_ms + deadline_hours * 3_600_000)
        invoice = self.run(create_invoice(self.client, self.seller, self.buyer, amount=FACE, ask_amount=ASK,
                                          due_days=10, now_ms=self.clock.epoch_ms, **extra))
        self.invoices.append(invoice["id"])

    @rule(who=st.integers(0, INVESTORS - 1), which=st.integers(0, 7),
          claim=st.integers(1, FACE) | st.sampled_from(["rest"]))
    def buy_claim(self, who: int, which: int, claim: int | str) -> None:
        invoice_id = self.invoice(which)
        if claim == "rest":
            invoice = self.run(self.market.redis.hgetall(self.market.keys.invoice(invoice_id)))
            claim = max(1, int(invoice["amount"]) - int(invoice.get("fundedClaim") or 0))
        self.post(f"/api/invoices/{invoice_id}/fund", self.investors[who], {"claim": claim})

    @rule(who=st.integers(0, INVESTORS - 1), which=st.integers(0, 7), amount=st.integers(ASK - 10, FACE + 10),
          hours=st.none() | st.integers(1, 72))
    def bid(self, who: int, which: int, amount: int, hours: int | None) -> None:
        body: dict[str, Any] = {"amount": amount}
        if hours is not None:
            body["validUntil"] = iso_from_ms(self.clock.epoch_ms + hours * 3_600_000)
        self.post(f"/api/invoices/{self.invoice(which)}/bids", self.investors[who], body)

    @rule(who=st.integers(0, INVESTORS - 1), which=st.integers(0, 7))
    def withdraw(self, who: int, which: int) -> None:
        response = self.run(self.client.delete(f"/api/invoices/{self.invoice(which)}/bids/mine",
                                               headers=self.investors[who].headers))
        self.answer(response)

    @rule(which=st.integers(0, 7), pick=st.integers(0, 5))
    def accept(self, which: int, pick: int) -> None:
        invoice_id = self.invoice(which)
        page = self.answer(self.run(self.client.get(f"/api/invoices/{invoice_id}/bids", headers=self.seller.headers)))
        bids = self.run(page.get_json()).get("bids", [])
        bid_id = bids[pick % len(bids)]["id"] if bids else "bid_00000000000000000000"
        self.post(f"/api/invoices/{invoice_id}/bids/{bid_id}/accept", self.seller)

    @rule(who=st.integers(0, INVESTORS - 1), which=st.integers(0, 7), amount=st.integers(ASK, FACE))
    def buy_now(self, who: int, which: int, amount: int) -> None:
        self.post(f"/api/invoices/{self.invoice(which)}/fund", self.investors[who], {"amount": amount})

    @rule(which=st.integers(0, 7))
    def cancel(self, which: int) -> None:
        self.post(f"/api/invoices/{self.invoice(which)}/cancel", self.seller)

    @rule(who=st.integers(0, INVESTORS - 1), amount=st.integers(1, 2_000_000))
    def top_up(self, who: int, amount: int) -> None:
        self.post("/api/wallet/deposit", self.investors[who], {"amount": amount})

    @rule(which=st.integers(0, 7), amount=st.none() | st.integers(1, FACE))
    def repay(self, which: int, amount: int | None) -> None:
        body = None if amount is None else {"amount": amount}
        self.post(f"/api/invoices/{self.invoice(which)}/repay", self.buyer, body)

    @rule(who=st.integers(0, INVESTORS - 1), faces=st.none() | st.integers(1, 4))
    def limit(self, who: int, faces: int | None) -> None:
        path = f"/api/users/limits/{self.buyer.id}"
        if faces is None:
            self.answer(self.run(self.client.delete(path, headers=self.investors[who].headers)))
        else:
            self.answer(self.run(self.client.put(path, json={"amount": faces * FACE},
                                                 headers=self.investors[who].headers)))

    @rule(hours=st.integers(1, 24 * 12))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours * 3_600_000)
        self.run(aging.age_once(self.market))

    def invoice(self, which: int) -> str:
        return self.invoices[which % len(self.invoices)]

    @invariant()
    def books_balance(self) -> None:
        report = self.run(ledger.check(self.market))
        assert report.ok, report.problems

    @invariant()
    def exposure_is_what_is_held_and_bid(self) -> None:
        """Each investor's exposure on the buyer == what they hold and is not repaid, plus their pending
        bids at face value."""
        self.run(self._check_exposure())

    async def _check_exposure(self) -> None:
        keys, redis = self.market.keys, self.market.redis
        expected = dict.fromkeys((investor.id for investor in self.investors), 0)
        for invoice_id in self.invoices:
            invoice = await redis.hgetall(keys.invoice(invoice_id))
            for investment_id in await redis.lrange(keys.invoice_holdings(invoice_id), 0, -1):
                held = await redis.hgetall(keys.investment(investment_id))
                if held["status"] in ("reserved", "active", "defaulted"):
                    expected[held["investorId"]] += int(held["claim"]) - int(held.get("received") or 0)
            for bidder in await redis.hkeys(keys.invoice_bidders(invoice_id)):
                expected[bidder] += int(invoice["amount"])
        found = {investor.id: int(await redis.hget(keys.exposure(investor.id), self.buyer.id) or 0)
                 for investor in self.investors}
        assert found == expected

    def teardown(self) -> None:
        self.run(self.test_app.shutdown())
        self.loop.close()


Marketplace.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_marketplace_keeps_its_books_under_any_sequence = Marketplace.TestCase
