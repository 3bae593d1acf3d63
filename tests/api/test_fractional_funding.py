"""Fractional invoices (DESIGN 9.4, 9.5): claims with a minimum ticket, priced by cumulative rounding of
askAmount, held in escrow until the invoice is full, paid out by the claim that fills it; refunded on
expiry or cancel; repaid pro rata in any instalments, also after a default. Every test ends with the
ledger check."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.clock import FixedClock, iso_from_ms
from finance.keys import FEES_ACCOUNT
from finance.market import Market
from finance.marketplace import aging
from tests.conftest import Backend
from tests.helpers.api import (
    DAY_MS,
    START_MS,
    Actor,
    balance,
    create_invoice,
    deposit,
    escrow,
    get_json,
    post,
    refused,
    register,
    repay,
)

FACE, ASK, MIN_TICKET = 1_000_003, 950_001, 100_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


@dataclass
class Market3:
    seller: Actor
    buyer: Actor
    investors: list[Actor]


async def parties(client: Client, investors: int = 3, money: int = 2_000_000) -> Market3:
    seller = await register(client, "seller", company="Seller Pvt Ltd")
    buyer = await register(client, "buyer", company="Buyer Corp")
    found = [await register(client, "investor") for _ in range(investors)]
    for investor in found:
        await deposit(client, investor, money)
    return Market3(seller, buyer, found)


async def fractional(client: Client, m: Market3, **extra: Any) -> dict[str, Any]:
    extra.setdefault("minTicket", MIN_TICKET)
    return await create_invoice(client, m.seller, m.buyer, amount=FACE, ask_amount=ASK, due_days=30,
                                now_ms=START_MS, **extra)


async def buy(client: Client, investor: Actor, invoice_id: str, claim: int) -> Any:
    return await post(client, f"/api/invoices/{invoice_id}/fund", investor, {"claim": claim})


def price(sold: int, claim: int, ask: int = ASK, face: int = FACE) -> int:
    return (sold + claim) * ask // face - sold * ask // face


async def events(market: Market, user_id: str, name: str) -> list[dict[str, Any]]:
    return [json.loads(fields["data"]) for _, fields in await market.redis.xrange(market.keys.user_stream(user_id))
            if fields["event"] == name]


async def market_updates(market: Market, invoice_id: str) -> list[dict[str, Any]]:
    rows = [json.loads(fields["data"]) for _, fields in await market.redis.xrange(market.keys.market_stream())
            if fields["event"] == "invoiceUpdated"]
    return [row for row in rows if row["id"] == invoice_id]


async def check(market: Market) -> None:
    report = await ledger.check(market)
    assert report.ok, report.problems


async def test_claims_fill_the_invoice_and_the_last_claim_pays_the_seller(client: Client, market: Market) -> None:
    m = await parties(client)
    invoice = await fractional(client, m)
    assert (invoice["minTicket"], invoice["fundedClaim"], invoice["remainingClaim"]) == (MIN_TICKET, 0, FACE)
    assert invoice["fundingDeadline"] == invoice["dueDate"]
    claims = [333_333, 600_000, FACE - 933_333]  # the last (66,670) is below the minimum ticket: the remainder
    sold, prices = 0, []
    for investor, claim in zip(m.investors, claims, strict=True):
        answer = await buy(client, investor, invoice["id"], claim)
        assert answer.status_code == 200, await answer.get_data(as_text=True)
        data = await answer.get_json()
        prices.append(price(sold, claim))
        sold += claim
        assert data["investment"]["claim"] == claim and data["investment"]["amount"] == prices[-1]
        assert data["investment"]["expectedReturn"] == claim
        assert data["invoice"]["fundedClaim"] == sold and data["invoice"]["remainingClaim"] == FACE - sold
        assert data["wallet"]["balance"] == 2_000_000 - prices[-1]
        if sold < FACE:
            assert data["invoice"]["status"] == "listed" and data["investment"]["status"] == "reserved"
            assert await escrow(market, invoice["id"]) == sum(prices)
            assert await balance(client, m.seller) == 0
    assert sum(prices) == ASK and prices == [316_665, 569_999, 63_337]
    assert data["invoice"]["status"] == "funded" and data["investment"]["status"] == "active"
    assert (data["invoice"]["fundedAmount"], data["invoice"]["outstanding"], data["invoice"]["investorId"]) == (
        ASK, FACE, None)
    assert await balance(client, m.seller) == ASK and await escrow(market, invoice["id"]) == 0
    updates = await market_updates(market, invoice["id"])
    assert [(u["status"], u["fundedClaim"], u["remainingClaim"]) for u in updates] == [
        ("listed", 333_333, FACE - 333_333), ("listed", 933_333, FACE - 933_333), ("funded", FACE, 0)]
    for investor, claim, paid in zip(m.investors, claims, prices, strict=True):
        portfolio = await get_json(client, "/api/users/portfolio", investor)
        [row] = portfolio["investments"]
        assert (row["claim"], row["amount"], row["status"]) == (claim, paid, "active")
        assert (portfolio["totals"]["invested"], portfolio["totals"]["expectedReturn"]) == (paid, claim)
        assert [e["claim"] for e in await events(market, investor.id, "investmentActivated")] == [claim]
        read = await get_json(client, f"/api/invoices/{invoice['id']}", investor)  # a holder is a party
        assert read["invoice"]["status"] == "funded"
    [funded] = await events(market, m.seller.id, "invoiceFunded")
    assert (funded["amount"], funded["investor"], funded["newBalance"]) == (ASK, "3 investors", ASK)
    own = await get_json(client, "/api/invoices/investor", m.investors[0])
    assert [row["id"] for row in own["invoices"]] == [invoice["id"]]
    for investor, claim, paid in zip(m.investors, claims, prices, strict=True):  # the dashboard counts claims
        stats = (await get_json(client, "/api/users/dashboard", investor))["stats"]
        assert (stats["investmentCount"], stats["investedAmount"], stats["expectedReturn"]) == (1, paid, claim)
        assert stats["expectedProfit"] == claim - paid
    seller_stats = (await get_json(client, "/api/users/dashboard", m.seller))["stats"]
    assert (seller_stats["fundedCount"], seller_stats["raisedAmount"]) == (1, ASK)
    await check(market)


async def test_the_dashboard_counts_reserved_claims_apart_from_active_investments(client: Client,
                                                                                    market: Market) -> None:
    """Investor 0 holds: a claim on an invoice that fills (active), a claim on one that stays short
    (reserved), a claim on one that is cancelled (refunded: in no figure) and a whole invoice (active)."""
    m = await parties(client, investors=2, money=5_000_000)
    me, other = m.investors
    filled, short, cancelled = [await fractional(client, m) for _ in range(3)]
    assert (await buy(client, me, filled["id"], 400_000)).status_code == 200
    reserved_then = await get_json(client, "/api/users/dashboard", me)
    assert (reserved_then["stats"]["reservedCount"], reserved_then["stats"]["activeCount"]) == (1, 0)
    assert (await buy(client, other, filled["id"], FACE - 400_000)).status_code == 200  # fills it
    assert (await buy(client, me, short["id"], 250_000)).status_code == 200
    assert (await buy(client, other, short["id"], 300_000)).status_code == 200
    assert (await buy(client, me, cancelled["id"], 100_000)).status_code == 200
    assert (await post(client, f"/api/invoices/{cancelled['id']}/cancel", m.seller)).status_code == 200
    whole = await create_invoice(client, m.seller, m.buyer, amount=500_000, ask_amount=450_000, due_days=30,
                                 now_ms=START_MS)
    assert (await post(client, f"/api/invoices/{whole['id']}/fund", me, {"amount": 460_000})).status_code == 200

    filled_price, short_price = price(0, 400_000), price(0, 250_000)
    stats = (await get_json(client, "/api/users/dashboard", me))["stats"]
    assert {name: stats[name] for name in ("investmentCount", "investedAmount", "activeCount", "activeAmount",
                                           "reservedCount", "reservedAmount")} == {
        "investmentCount": 3, "investedAmount": filled_price + short_price + 460_000,
        "activeCount": 2, "activeAmount": filled_price + 460_000,
        "reservedCount": 1, "reservedAmount": short_price}
    totals = (await get_json(client, "/api/users/portfolio", me))["totals"]
    assert (totals["count"], totals["active"], totals["reserved"]) == (3, filled_price + 460_000, short_price)
    theirs = (await get_json(client, "/api/users/dashboard", other))["stats"]
    assert (theirs["activeCount"], theirs["activeAmount"]) == (1, price(400_000, FACE - 400_000))
    assert (theirs["reservedCount"], theirs["reservedAmount"]) == (1, price(250_000, 300_000))
    await check(market)


async def test_the_claim_that_fills_the_invoice_pays_the_seller_the_ask_less_the_fee(backend: Backend) -> None:
    application = backend.app(platform_fee_bps=150)
    async with application.test_app():
        client, market = application.test_client(), application.extensions["market"]
        m = await parties(client, investors=2)
        invoice = await create_invoice(client, m.seller, m.buyer, amount=FACE, ask_amount=ASK, minTicket=MIN_TICKET)
        assert (await buy(client, m.investors[0], invoice["id"], 600_000)).status_code == 200
        assert await market.redis.hget(market.keys.wallet(FEES_ACCOUNT), "balance") is None  # nothing until full
        answer = await (await buy(client, m.investors[1], invoice["id"], FACE - 600_000)).get_json()
        fee = ASK * 150 // 10_000
        assert (answer["invoice"]["platformFee"], answer["invoice"]["fundedAmount"]) == (fee, ASK)
        assert await balance(client, m.seller) == ASK - fee
        assert await market.redis.hget(market.keys.wallet(FEES_ACCOUNT), "balance") == str(fee)
        [funded] = await events(market, m.seller.id, "invoiceFunded")
        assert (funded["amount"], funded["platformFee"], funded["newBalance"]) == (ASK, fee, ASK - fee)
        assert (await get_json(client, "/api/users/dashboard", m.seller))["stats"]["raisedAmount"] == ASK - fee
        await check(market)


async def test_claims_outside_the_rules_are_refused_and_move_nothing(client: Client, market: Market,
                                                                     clock: FixedClock) -> None:
    m = await parties(client, investors=2)
    invoice = await fractional(client, m, fundingDeadline=iso_from_ms(START_MS + 5 * DAY_MS))
    path = f"/api/invoices/{invoice['id']}/fund"
    first = m.investors[0]
    await refused(await buy(client, first, invoice["id"], MIN_TICKET - 1), 422, "claim_out_of_range")
    await refused(await buy(client, first, invoice["id"], FACE + 1), 422, "claim_out_of_range")
    await refused(await post(client, path, first, {"amount": ASK}), 422, "fractional_invoice")
    await refused(await post(client, path, first, {"amount": ASK, "claim": FACE}), 400, "invalid_request")
    await refused(await post(client, path, first, {}), 400, "invalid_request")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids", first, {"amount": ASK}), 422,
                  "fractional_invoice")
    await refused(await buy(client, m.seller, invoice["id"], MIN_TICKET), 403, "forbidden")
    assert (await buy(client, first, invoice["id"], FACE - 50_000)).status_code == 200
    await refused(await buy(client, m.investors[1], invoice["id"], 50_001), 422, "claim_out_of_range")
    await refused(await buy(client, m.investors[1], invoice["id"], 49_999), 422, "claim_out_of_range")
    whole = await create_invoice(client, m.seller, m.buyer, amount=FACE, ask_amount=ASK, now_ms=START_MS)
    await refused(await buy(client, first, whole["id"], FACE), 422, "invoice_not_fractional")
    clock.advance(5 * DAY_MS)
    await refused(await buy(client, m.investors[1], invoice["id"], 50_000), 409, "funding_deadline_passed")
    assert await balance(client, m.investors[1]) == 2_000_000
    await check(market)


@pytest.mark.parametrize(("extra", "code"), [
    ({"minTicket": 0}, "invalid_amount"),
    ({"minTicket": FACE + 1}, "invalid_field"),
    ({"minTicket": 1, "fundingDeadline": iso_from_ms(START_MS + 31 * DAY_MS)}, "invalid_field"),
    ({"minTicket": 1, "fundingDeadline": iso_from_ms(START_MS)}, "invalid_field"),
    ({"fundingDeadline": iso_from_ms(START_MS + DAY_MS)}, "invalid_field"),
])
async def test_a_fractional_invoice_needs_a_sound_ticket_and_deadline(client: Client, extra: dict[str, Any],
                                                                     code: str) -> None:
    m = await parties(client, investors=0)
    body = {"invoiceNumber": "F-1", "buyerId": m.buyer.id, "amount": FACE, "askAmount": ASK,
            "dueDate": iso_from_ms(START_MS + 30 * DAY_MS), **extra}
    await refused(await post(client, "/api/invoices/create", m.seller, body), 422, code)


async def test_the_deadline_passing_refunds_every_claim(client: Client, market: Market, clock: FixedClock) -> None:
    m = await parties(client)
    invoice = await fractional(client, m, fundingDeadline=iso_from_ms(START_MS + 3 * DAY_MS))
    for investor, claim in zip(m.investors, (200_000, 300_001, 100_000), strict=True):
        assert (await buy(client, investor, invoice["id"], claim)).status_code == 200
    clock.advance(3 * DAY_MS)
    counts = await aging.age_once(market)
    assert counts["unfilled"] == 1
    read = await get_json(client, f"/api/invoices/{invoice['id']}", m.investors[0])
    assert read["invoice"]["status"] == "expired"
    for investor, claim in zip(m.investors, (200_000, 300_001, 100_000), strict=True):
        assert await balance(client, investor) == 2_000_000
        [refund] = await events(market, investor.id, "investmentRefunded")
        assert (refund["claim"], refund["newBalance"]) == (claim, 2_000_000)
        portfolio = await get_json(client, "/api/users/portfolio", investor)
        assert [row["status"] for row in portfolio["investments"]] == ["refunded"]
        assert (portfolio["totals"]["invested"], portfolio["totals"]["count"]) == (0, 0)
        limits = await get_json(client, "/api/users/limits", investor)
        assert limits["limits"] == []
        assert int(await market.redis.hget(market.keys.exposure(investor.id), m.buyer.id) or 0) == 0
    assert await escrow(market, invoice["id"]) == 0
    assert (await market_updates(market, invoice["id"]))[-1]["status"] == "expired"
    # the invoice number is free again
    await create_invoice(client, m.seller, m.buyer, number=invoice["invoiceNumber"], now_ms=clock.now().epoch_ms)
    await check(market)


async def test_cancel_refunds_every_claim(client: Client, market: Market) -> None:
    m = await parties(client, investors=2)
    invoice = await fractional(client, m)
    for investor in m.investors:
        assert (await buy(client, investor, invoice["id"], 123_457)).status_code == 200
    answer = await post(client, f"/api/invoices/{invoice['id']}/cancel", m.seller)
    assert answer.status_code == 200
    assert (await answer.get_json())["invoice"]["status"] == "cancelled"
    assert [await balance(client, investor) for investor in m.investors] == [2_000_000, 2_000_000]
    await refused(await buy(client, m.investors[0], invoice["id"], MIN_TICKET), 409, "invoice_not_listed")
    await check(market)


async def test_holders_are_capped_and_the_last_claim_takes_the_rest(backend: Backend, clock: FixedClock) -> None:
    application = backend.app(clock, holders_per_invoice_max=3)
    async with application.test_app():
        client, market = application.test_client(), application.extensions["market"]
        m = await parties(client)
        invoice = await fractional(client, m, minTicket=1)
        assert (await buy(client, m.investors[0], invoice["id"], 1)).status_code == 200
        assert (await buy(client, m.investors[1], invoice["id"], 2)).status_code == 200
        await refused(await buy(client, m.investors[2], invoice["id"], 3), 422, "claim_out_of_range")
        answer = await buy(client, m.investors[2], invoice["id"], FACE - 3)
        assert (await answer.get_json())["invoice"]["status"] == "funded"
        # cumulative rounding: claims of 1 and 2 paise cost floor(1 * ask / face) = 0 and floor(3 * ask / face) - 0
        assert [await balance(client, i) for i in m.investors] == [2_000_000, 2_000_000 - 2,
                                                                   2_000_000 - (ASK - 2)]
        await check(market)


def shares(remains: list[int], payment: int) -> list[int]:
    whole, running, before, out = sum(remains), 0, 0, []
    for remain in remains:
        running += remain
        out.append(running * payment // whole - before)
        before += out[-1]
    return out


async def test_five_odd_instalments_across_overdue_and_default_pay_every_holder_pro_rata(
        client: Client, market: Market, clock: FixedClock) -> None:
    m = await parties(client)
    invoice = await fractional(client, m)
    claims = [333_334, 333_334, FACE - 666_668]
    for investor, claim in zip(m.investors, claims, strict=True):
        assert (await buy(client, investor, invoice["id"], claim)).status_code == 200
    before = [await balance(client, investor) for investor in m.investors]
    await deposit(client, m.buyer, 2_000_000)
    instalments = [(0, 123_457), (31 * DAY_MS, 200_001), (0, 99_999), (30 * DAY_MS, 300_000), (0, None)]
    received, outstanding, statuses = [0, 0, 0], FACE, []
    for wait, amount in instalments:
        clock.advance(wait)
        await aging.age_once(market)
        answer = await repay(client, m.buyer, invoice["id"], amount)
        assert answer.status_code == 200, await answer.get_data(as_text=True)
        data = await answer.get_json()
        paying = outstanding if amount is None else amount
        expected = shares([c - r for c, r in zip(claims, received, strict=True)], paying)
        received = [r + s for r, s in zip(received, expected, strict=True)]
        outstanding -= paying
        assert (data["invoice"]["received"], data["invoice"]["outstanding"]) == (FACE - outstanding, outstanding)
        assert data["investment"] is None
        statuses.append(data["invoice"]["status"])
        for investor, start, got in zip(m.investors, before, received, strict=True):
            assert await balance(client, investor) == start + got
    assert statuses == ["funded", "overdue", "overdue", "defaulted", "recovered"]
    assert received == claims  # every holder got exactly their claim
    for investor, claim in zip(m.investors, claims, strict=True):
        paid = [e["amount"] for e in await events(market, investor.id, "invoiceRepaid")]
        assert len(paid) == 5 and sum(paid) == claim
        [row] = (await get_json(client, "/api/users/portfolio", investor))["investments"]
        assert (row["status"], row["received"]) == ("recovered", claim)
    seller_events = await events(market, m.seller.id, "invoiceRepaid")
    assert [e["outstanding"] for e in seller_events] == [876_546, 676_545, 576_546, 276_546, 0]
    buyer_events = await events(market, m.buyer.id, "invoiceRepaid")
    assert [e["amount"] for e in buyer_events] == [123_457, 200_001, 99_999, 300_000, 276_546]
    # the market sees every change of status with how much of the invoice was sold
    updates = [(u["status"], u["fundedClaim"], u["remainingClaim"])
               for u in await market_updates(market, invoice["id"])]
    assert [u for u in updates if u[0] != "listed"] == [
        ("funded", FACE, 0), ("funded", FACE, 0), ("overdue", FACE, 0), ("overdue", FACE, 0), ("overdue", FACE, 0),
        ("defaulted", FACE, 0), ("defaulted", FACE, 0), ("recovered", FACE, 0)]
    await refused(await repay(client, m.buyer, invoice["id"], 1), 409, "invoice_not_repayable")
    await check(market)


async def test_an_exposure_limit_counts_claims_and_falls_with_repayment(client: Client, market: Market) -> None:
    m = await parties(client, investors=2)
    investor = m.investors[0]
    limit = await client.put(f"/api/users/limits/{m.buyer.id}", json={"amount": 500_000}, headers=investor.headers)
    assert limit.status_code == 200
    invoice = await fractional(client, m)
    await refused(await buy(client, investor, invoice["id"], 500_001), 409, "exposure_limit_exceeded")
    assert (await buy(client, investor, invoice["id"], 500_000)).status_code == 200
    await refused(await buy(client, investor, invoice["id"], MIN_TICKET), 409, "exposure_limit_exceeded")
    assert (await buy(client, m.investors[1], invoice["id"], FACE - 500_000)).status_code == 200
    await deposit(client, m.buyer, FACE)
    assert (await repay(client, m.buyer, invoice["id"], 200_000)).status_code == 200
    rows = (await get_json(client, "/api/users/limits", investor))["limits"]
    assert rows[0]["exposure"] == 500_000 - shares([500_000, FACE - 500_000], 200_000)[0]
    await check(market)


async def test_two_hundred_investors_race_for_the_last_claims(real_backend: Backend) -> None:
    application = real_backend.app()
    async with application.test_app():
        client, market = application.test_client(), application.extensions["market"]
        m = await parties(client, investors=200, money=20_000)
        invoice = await create_invoice(client, m.seller, m.buyer, amount=FACE, ask_amount=ASK, minTicket=10_000)
        # sold down to 50,003 paise: room for five claims of 10,000 (the last claim takes the odd 3 too)
        await deposit(client, m.investors[0], 1_000_000)
        assert (await buy(client, m.investors[0], invoice["id"], FACE - 50_003)).status_code == 200
        racers = m.investors[1:]
        # ticket-sized claims, claims of the odd remainders, and claims too big for what can be left
        wants = [10_000] * 120 + [10_003] * 40 + [3] * 20 + [20_000] * 19
        answers = await asyncio.gather(*(buy(client, racer, invoice["id"], want)
                                         for racer, want in zip(racers, wants, strict=True)))
        codes: dict[str, int] = {}
        winners = []
        for racer, want, answer in zip(racers, wants, answers, strict=True):
            if answer.status_code == 200:
                winners.append((racer, want, await answer.get_json()))
                continue
            code = (await answer.get_json())["error"]["code"]
            assert (answer.status_code, code) in {(422, "claim_out_of_range"), (409, "invoice_not_listed")}
            codes[code] = codes.get(code, 0) + 1
        sold = sum(want for _, want, _ in winners)
        assert 0 < sold <= 50_003  # never oversold
        assert sum(codes.values()) == 199 - len(winners)
        read = (await get_json(client, f"/api/invoices/{invoice['id']}", m.seller))["invoice"]
        assert read["fundedClaim"] == FACE - 50_003 + sold
        if sold < 50_003:  # whatever is left, however small, sells as the exact remainder
            assert read["status"] == "listed"
            last = await buy(client, m.investors[0], invoice["id"], 50_003 - sold)
            assert last.status_code == 200
        else:
            assert codes.get("invoice_not_listed", 0) > 0 or len(winners) == 199
        funded = await get_json(client, f"/api/invoices/{invoice['id']}", m.seller)
        assert (funded["invoice"]["status"], funded["invoice"]["fundedClaim"]) == ("funded", FACE)
        assert await balance(client, m.seller) == ASK
        holdings = await market.redis.lrange(market.keys.invoice_holdings(invoice["id"]), 0, -1)
        assert len(holdings) == 1 + len(winners) + (sold < 50_003)
        for racer, _, data in winners:
            assert await balance(client, racer) == 20_000 - data["investment"]["amount"]
        for racer, _, answer in zip(racers, wants, answers, strict=True):
            if answer.status_code != 200:
                assert await balance(client, racer) == 20_000
        await check(market)


async def test_the_check_finds_a_mispriced_claim_and_a_share_paid_to_no_one(client: Client, market: Market) -> None:
    m = await parties(client, investors=2)
    invoice = await fractional(client, m)
    first = await (await buy(client, m.investors[0], invoice["id"], 400_000)).get_json()
    await buy(client, m.investors[1], invoice["id"], FACE - 400_000)
    await deposit(client, m.buyer, FACE)
    assert (await repay(client, m.buyer, invoice["id"], 1_000)).status_code == 200
    await check(market)
    investment_key = market.keys.investment(first["investment"]["id"])
    await market.redis.hset(investment_key, "amount", first["investment"]["amount"] + 1)
    await market.redis.hincrby(investment_key, "received", -1)
    problems = (await ledger.check(market)).problems
    name = f"invoice {invoice['id']}"
    assert (f"{name}: claim {first['investment']['id']} of 400000 cost {first['investment']['amount'] + 1}, "
            f"its cumulative-rounded price is {first['investment']['amount']}") in problems
    assert f"{name}: its holders received 999, the invoice 1000" in problems


async def test_concurrent_claims_never_pass_an_exposure_limit(real_backend: Backend) -> None:
    application = real_backend.app()
    async with application.test_app():
        client, market = application.test_client(), application.extensions["market"]
        m = await parties(client, investors=1, money=5_000_000)
        investor = m.investors[0]
        limit = await client.put(f"/api/users/limits/{m.buyer.id}", json={"amount": 3 * MIN_TICKET},
                                 headers=investor.headers)
        assert limit.status_code == 200
        invoices = [await fractional(client, m) for _ in range(3)]
        answers = await asyncio.gather(*(buy(client, investor, invoice["id"], MIN_TICKET)
                                         for invoice in invoices for _ in range(4)))
        assert sorted(answer.status_code for answer in answers) == [200] * 3 + [409] * 9
        for answer in answers:
            if answer.status_code == 409:
                assert (await answer.get_json())["error"]["code"] == "exposure_limit_exceeded"
        rows = (await get_json(client, "/api/users/limits", investor))["limits"]
        assert rows[0]["exposure"] == 3 * MIN_TICKET
        spent = sum([(await answer.get_json())["investment"]["amount"] for answer in answers
                     if answer.status_code == 200])
        assert await balance(client, investor) == 5_000_000 - spent
        await check(market)


async def test_a_claim_retried_with_its_idempotency_key_is_bought_once(client: Client, market: Market) -> None:
    m = await parties(client, investors=1)
    invoice = await fractional(client, m)
    headers = {**m.investors[0].headers, "Idempotency-Key": "claim-1"}
    path = f"/api/invoices/{invoice['id']}/fund"
    first = await client.post(path, json={"claim": 250_000}, headers=headers)
    again = await client.post(path, json={"claim": 250_000}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert await first.get_json() == await again.get_json()
    await refused(await client.post(path, json={"claim": 250_001}, headers=headers), 422, "idempotency_key_reused")
    read = await get_json(client, f"/api/invoices/{invoice['id']}", m.seller)
    assert read["invoice"]["fundedClaim"] == 250_000
    assert await balance(client, m.investors[0]) == 2_000_000 - price(0, 250_000)
    await check(market)


async def test_deadline_expiries_go_in_smaller_batches_and_the_task_calls_again(
        client: Client, market: Market, clock: FixedClock) -> None:
    """Each expiry refunds every claim, so a call takes batch_max / 20 of them and says there is more."""
    m = await parties(client, investors=1)
    invoices = [await fractional(client, m, fundingDeadline=iso_from_ms(START_MS + DAY_MS)) for _ in range(3)]
    for invoice in invoices:
        assert (await buy(client, m.investors[0], invoice["id"], MIN_TICKET)).status_code == 200
    clock.advance(DAY_MS)
    replies = [(await market.scripts.age_invoices(now=clock.now(), batch_max=40)).data() for _ in range(2)]
    assert [(reply["unfilled"], reply["more"]) for reply in replies] == [(2, True), (1, False)]
    assert await balance(client, m.investors[0]) == 2_000_000
    await check(market)


async def test_an_escrow_opened_and_closed_during_the_check_is_read_too(client: Client, market: Market,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The totals are read first; a fractional invoice that takes a claim and is cancelled before the
    invoices are checked has legs in an escrow the totals did not list: the wallets read afterwards
    include it, so the check sees both sides."""
    m = await parties(client, investors=1)
    check_invoices = ledger._check_invoices

    async def meanwhile(market_: Market, report: ledger.LedgerReport) -> list[ledger.Snapshot]:
        invoice = await fractional(client, m)
        assert (await buy(client, m.investors[0], invoice["id"], 400_000)).status_code == 200
        assert (await post(client, f"/api/invoices/{invoice['id']}/cancel", m.seller)).status_code == 200
        return await check_invoices(market_, report)

    monkeypatch.setattr(ledger, "_check_invoices", meanwhile)
    await check(market)


async def test_a_holding_from_before_received_was_kept_catches_up(client: Client, market: Market) -> None:
    """A whole invoice funded and partly repaid by an earlier version: its investment has no claim or
    received, and the invoice no holdings list. The next payment records the holding's received whole."""
    m = await parties(client, investors=1)
    invoice = await create_invoice(client, m.seller, m.buyer, amount=FACE, ask_amount=ASK, now_ms=START_MS)
    funding = await post(client, f"/api/invoices/{invoice['id']}/fund", m.investors[0], {"amount": ASK})
    funded = await funding.get_json()
    await deposit(client, m.buyer, FACE)
    assert (await repay(client, m.buyer, invoice["id"], 300_000)).status_code == 200
    await market.redis.hdel(market.keys.investment(funded["investment"]["id"]), "claim", "received")
    await market.redis.delete(market.keys.invoice_holdings(invoice["id"]))
    answer = await (await repay(client, m.buyer, invoice["id"], 100_000)).get_json()
    assert (answer["investment"]["received"], answer["invoice"]["received"]) == (400_000, 400_000)
    assert await balance(client, m.investors[0]) == 2_000_000 - ASK + 400_000
    await check(market)


async def test_a_fractional_invoice_past_its_deadline_cannot_be_accepted(backend: Backend, clock: FixedClock) -> None:
    application = backend.app(clock, buyer_acceptance="required")
    async with application.test_app():
        client = application.test_client()
        m = await parties(client, investors=0)
        invoice = await fractional(client, m, fundingDeadline=iso_from_ms(START_MS + DAY_MS))
        assert invoice["status"] == "pending_acceptance"
        clock.advance(DAY_MS)
        await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", m.buyer), 409,
                      "funding_deadline_passed")


async def test_claims_that_cost_nothing_are_activated_and_refunded_like_any_other(real_backend: Backend) -> None:
    """A claim small enough for cumulative rounding to price it at 0 paise: the figures a refund or an
    activation takes back are 0, which real Redis's HINCRBY refuses as "-0" unless nothing is sent."""
    application = real_backend.app()
    async with application.test_app():
        client, market = application.test_client(), application.extensions["market"]
        m = await parties(client, investors=2)
        cancelled = await create_invoice(client, m.seller, m.buyer, amount=1_000, ask_amount=1, minTicket=1)
        assert price(0, 1, ask=1, face=1_000) == 0
        for investor in m.investors:
            assert (await buy(client, investor, cancelled["id"], 1)).status_code == 200
        assert (await post(client, f"/api/invoices/{cancelled['id']}/cancel", m.seller)).status_code == 200
        filled = await create_invoice(client, m.seller, m.buyer, amount=1_000, ask_amount=1, minTicket=1)
        assert (await buy(client, m.investors[0], filled["id"], 1)).status_code == 200  # 0 paise
        answer = await buy(client, m.investors[1], filled["id"], 999)  # 1 paisa, and it fills the invoice
        assert answer.status_code == 200, await answer.get_data(as_text=True)
        assert (await answer.get_json())["invoice"]["status"] == "funded"
        stats = (await get_json(client, "/api/users/dashboard", m.investors[0]))["stats"]
        assert (stats["reservedCount"], stats["reservedAmount"]) == (0, 0)
        await check(market)
