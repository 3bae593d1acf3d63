"""Auctions (DESIGN 9.2): bids hold their money in the invoice's escrow; replacing adjusts it, withdrawing
returns it; the seller accepts one bid, which funds the invoice at that price (fee to platform:fees) and
refunds every other bid in the same script; cancel, buy-now and expiry refund them all too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.clock import FixedClock, iso_from_ms
from finance.keys import FEES_ACCOUNT
from finance.market import Market
from finance.marketplace import aging
from finance.marketplace.bids import discount_rate_bps
from tests.conftest import Backend
from tests.helpers.api import (
    DAY_MS,
    START_MS,
    Actor,
    Trio,
    balance,
    create_invoice,
    deposit,
    escrow,
    fund,
    get_json,
    post,
    refused,
    register,
    trio,
)

FACE, ASK = 1_000_000, 900_000
FEE_BPS = 100


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


@pytest.fixture
async def app(backend: Backend, clock: FixedClock) -> AsyncIterator[Quart]:
    application = backend.app(clock, platform_fee_bps=FEE_BPS, bids_per_invoice_max=5)
    async with application.test_app():
        yield application


async def listed(client: Client, t: Trio) -> dict[str, Any]:
    return await create_invoice(client, t.seller, t.buyer, amount=FACE, ask_amount=ASK, due_days=30, now_ms=START_MS)


async def bid(client: Client, investor: Actor, invoice_id: str, amount: int, **extra: Any) -> Any:
    return await post(client, f"/api/invoices/{invoice_id}/bids", investor, {"amount": amount, **extra})


async def bidders(client: Client, count: int, money: int = 2_000_000) -> list[Actor]:
    found = []
    for _ in range(count):
        investor = await register(client, "investor")
        await deposit(client, investor, money)
        found.append(investor)
    return found


async def test_a_bid_holds_its_money_in_escrow_and_tells_the_seller_only_the_amount(client: Client,
                                                                                   market: Market) -> None:
    t = await trio(client, investor_money=2_000_000)
    invoice = await listed(client, t)
    answer = await bid(client, t.investor, invoice["id"], 950_000)
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    data = await answer.get_json()
    rate = discount_rate_bps(FACE, 950_000, START_MS + 30 * DAY_MS, START_MS)
    assert rate == 50_000 * 10_000 * 365 // (950_000 * 30)
    assert data["bid"] == {"id": data["bid"]["id"], "invoiceId": invoice["id"], "investorId": t.investor.id,
                           "investor": t.investor.name, "amount": 950_000, "discountRateBps": rate,
                           "validUntil": None, "status": "pending", "createdAt": iso_from_ms(START_MS),
                           "updatedAt": iso_from_ms(START_MS)}
    assert data["wallet"]["balance"] == 2_000_000 - 950_000
    assert await escrow(market, invoice["id"]) == 950_000
    placed = [fields for _, fields in await market.redis.xrange(market.keys.user_stream(t.seller.id))
              if fields["event"] == "bidPlaced"]
    assert len(placed) == 1 and t.investor.id not in placed[0]["data"] and t.investor.name not in placed[0]["data"]
    assert (await ledger.check(market)).ok


async def test_a_second_bid_replaces_the_first_and_escrow_follows_it(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=2_000_000)
    invoice = await listed(client, t)
    first = (await (await bid(client, t.investor, invoice["id"], 920_000)).get_json())["bid"]
    higher = (await (await bid(client, t.investor, invoice["id"], 990_000)).get_json())
    assert (higher["bid"]["id"], higher["wallet"]["balance"]) == (first["id"], 2_000_000 - 990_000)
    assert await escrow(market, invoice["id"]) == 990_000
    lower = await (await bid(client, t.investor, invoice["id"], 900_000)).get_json()
    assert (lower["bid"]["amount"], lower["wallet"]["balance"]) == (900_000, 2_000_000 - 900_000)
    assert await escrow(market, invoice["id"]) == 900_000
    withdrawn = await (await client.delete(f"/api/invoices/{invoice['id']}/bids/mine",
                                           headers=t.investor.headers)).get_json()
    assert (withdrawn["bid"]["status"], withdrawn["wallet"]["balance"]) == ("withdrawn", 2_000_000)
    assert await escrow(market, invoice["id"]) == 0
    await refused(await client.delete(f"/api/invoices/{invoice['id']}/bids/mine", headers=t.investor.headers), 404,
                  "bid_not_found")
    assert (await ledger.check(market)).ok


async def test_bad_bids_are_refused_and_move_nothing(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=950_000)
    invoice = await listed(client, t)
    await refused(await bid(client, t.investor, invoice["id"], ASK - 1), 422, "amount_out_of_range")
    await refused(await bid(client, t.investor, invoice["id"], FACE + 1), 422, "amount_out_of_range")
    await refused(await bid(client, t.investor, invoice["id"], 960_000), 409, "insufficient_funds")
    await refused(await bid(client, t.investor, invoice["id"], ASK, validUntil=iso_from_ms(START_MS)), 422,
                  "invalid_field")
    await refused(await bid(client, t.investor, invoice["id"], ASK, validUntil=iso_from_ms(START_MS + 31 * DAY_MS)),
                  422, "invalid_field")
    await refused(await bid(client, t.investor, invoice["id"], ASK, validUntil="soon"), 422, "invalid_field")
    await refused(await bid(client, t.seller, invoice["id"], ASK), 403, "forbidden")
    await refused(await bid(client, t.investor, "inv_00000000000000000000", ASK), 404, "invoice_not_found")
    assert await balance(client, t.investor) == 950_000
    assert await escrow(market, invoice["id"]) == 0


async def test_the_seller_sees_every_bid_and_an_investor_only_their_own(client: Client) -> None:
    t = await trio(client)
    invoice = await listed(client, t)
    a, b = await bidders(client, 2)
    await bid(client, a, invoice["id"], 930_000)
    await bid(client, b, invoice["id"], 970_000, validUntil=iso_from_ms(START_MS + DAY_MS))
    seen = await get_json(client, f"/api/invoices/{invoice['id']}/bids", t.seller)
    assert [(row["investor"], row["amount"]) for row in seen["bids"]] == [(b.name, 970_000), (a.name, 930_000)]
    assert seen["bids"][0]["validUntil"] == iso_from_ms(START_MS + DAY_MS)
    own = await get_json(client, f"/api/invoices/{invoice['id']}/bids", a)
    assert [row["investorId"] for row in own["bids"]] == [a.id]
    assert (await get_json(client, f"/api/invoices/{invoice['id']}/bids", t.investor))["bids"] == []
    await refused(await client.get(f"/api/invoices/{invoice['id']}/bids", headers=t.buyer.headers), 403, "forbidden")
    other_seller = await register(client, "seller")
    await refused(await client.get(f"/api/invoices/{invoice['id']}/bids", headers=other_seller.headers), 403,
                  "forbidden")
    assert (await fund(client, t.investor, invoice["id"], FACE)).status_code == 200  # refunds a and b
    await refused(await client.get(f"/api/invoices/{invoice['id']}/bids", headers=a.headers), 404,
                  "invoice_not_found")
    assert (await get_json(client, f"/api/invoices/{invoice['id']}/bids", t.seller))["bids"] == []


async def test_accepting_one_bid_funds_the_invoice_and_refunds_every_other(client: Client, market: Market) -> None:
    t = await trio(client)
    invoice = await listed(client, t)
    a, b, c = await bidders(client, 3)
    amounts = {a.id: 910_000, b.id: 955_555, c.id: 990_000}
    placed = {}
    for investor in (a, b, c):
        answer = await bid(client, investor, invoice["id"], amounts[investor.id])
        placed[investor.id] = (await answer.get_json())["bid"]
    winner = placed[b.id]
    answer = await post(client, f"/api/invoices/{invoice['id']}/bids/{winner['id']}/accept", t.seller)
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    data = await answer.get_json()
    fee = 955_555 * FEE_BPS // 10_000
    assert (data["invoice"]["status"], data["invoice"]["investorId"], data["invoice"]["fundedAmount"]) == (
        "funded", b.id, 955_555)
    assert data["invoice"]["platformFee"] == fee
    assert (data["bid"]["status"], data["investment"]["amount"]) == ("accepted", 955_555)
    assert await balance(client, t.seller) == 955_555 - fee
    assert await market.redis.hget(market.keys.wallet(FEES_ACCOUNT), "balance") == str(fee)
    assert [await balance(client, investor) for investor in (a, b, c)] == [2_000_000, 2_000_000 - 955_555, 2_000_000]
    assert await escrow(market, invoice["id"]) == 0
    for investor, event in ((a, "bidRejected"), (b, "bidAccepted"), (c, "bidRejected")):
        events = [fields["event"] for _, fields in await market.redis.xrange(market.keys.user_stream(investor.id))]
        assert event in events
    portfolio = await get_json(client, "/api/users/portfolio", b)
    assert [row["invoiceId"] for row in portfolio["investments"]] == [invoice["id"]]
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids/{placed[a.id]['id']}/accept", t.seller),
                  409, "invoice_not_listed")
    report = await ledger.check(market)
    assert report.ok, report.problems


async def test_only_the_seller_accepts_and_only_a_pending_bid_of_that_invoice(client: Client) -> None:
    t = await trio(client)
    invoice, other = await listed(client, t), await listed(client, t)
    (a,) = await bidders(client, 1)
    on_other = (await (await bid(client, a, other["id"], 950_000)).get_json())["bid"]
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids/{on_other['id']}/accept", t.seller), 404,
                  "bid_not_found")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids/bid_00000000000000000000/accept",
                             t.seller), 404, "bid_not_found")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids/not-a-bid/accept", t.seller), 404,
                  "bid_not_found")
    await refused(await post(client, f"/api/invoices/{other['id']}/bids/{on_other['id']}/accept", a), 403,
                  "forbidden")
    other_seller = await register(client, "seller")
    await refused(await post(client, f"/api/invoices/{other['id']}/bids/{on_other['id']}/accept", other_seller), 403,
                  "forbidden")


async def test_a_bid_past_valid_until_cannot_be_accepted_and_the_aging_task_refunds_it(
        client: Client, market: Market, clock: FixedClock) -> None:
    t = await trio(client)
    invoice = await listed(client, t)
    (a,) = await bidders(client, 1)
    placed = (await (await bid(client, a, invoice["id"], 950_000, validUntil=iso_from_ms(START_MS + DAY_MS)))
              .get_json())["bid"]
    clock.advance(DAY_MS)
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids/{placed['id']}/accept", t.seller), 409,
                  "bid_expired")
    assert (await aging.age_once(market))["bidsExpired"] == 1
    assert await balance(client, a) == 2_000_000
    assert await escrow(market, invoice["id"]) == 0
    await refused(await post(client, f"/api/invoices/{invoice['id']}/bids/{placed['id']}/accept", t.seller), 409,
                  "bid_not_pending")
    assert (await ledger.check(market)).ok


async def test_the_cap_counts_pending_bids_and_replacing_is_free(client: Client) -> None:
    t = await trio(client)
    invoice = await listed(client, t)
    investors = await bidders(client, 6)
    for investor in investors[:5]:
        assert (await bid(client, investor, invoice["id"], 950_000)).status_code == 200
    await refused(await bid(client, investors[5], invoice["id"], 950_000), 409, "bid_limit_reached")
    assert (await bid(client, investors[0], invoice["id"], 960_000)).status_code == 200
    await client.delete(f"/api/invoices/{invoice['id']}/bids/mine", headers=investors[1].headers)
    assert (await bid(client, investors[5], invoice["id"], 950_000)).status_code == 200


@pytest.mark.parametrize("ending", ["cancel", "buy-now", "expiry"])
async def test_every_way_an_auction_ends_refunds_the_pending_bids(client: Client, market: Market, clock: FixedClock,
                                                                 ending: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t)
    bidding = await bidders(client, 3)
    await bid(client, t.investor, invoice["id"], 920_000)  # the buy-now investor's own bid counts towards it
    for investor in bidding:
        await bid(client, investor, invoice["id"], 930_000)
    if ending == "cancel":
        assert (await post(client, f"/api/invoices/{invoice['id']}/cancel", t.seller)).status_code == 200
    elif ending == "buy-now":
        assert (await fund(client, t.investor, invoice["id"], 1_000_000)).status_code == 200
    else:
        clock.advance(30 * DAY_MS)
        assert (await aging.age_once(market))["expired"] == 1
    assert [await balance(client, investor) for investor in bidding] == [2_000_000] * 3
    expected = 0 if ending == "buy-now" else 1_000_000
    assert await balance(client, t.investor) == expected
    assert await escrow(market, invoice["id"]) == 0
    report = await ledger.check(market)
    assert report.ok, report.problems


@pytest.mark.real_redis
async def test_fifty_bidders_racing_the_sellers_accept_leave_one_winner_and_every_paisa(
        real_backend: Backend, clock: FixedClock) -> None:
    application = real_backend.app(clock, platform_fee_bps=FEE_BPS)
    async with application.test_app():
        client = application.test_client()
        market: Market = application.extensions["market"]
        t = await trio(client)
        invoice = await listed(client, t)
        investors = await bidders(client, 50)
        first = (await (await bid(client, investors[0], invoice["id"], 901_234)).get_json())["bid"]
        calls = [bid(client, investor, invoice["id"], 900_000 + 1_000 * index)
                 for index, investor in enumerate(investors[1:], 1)]
        calls.insert(25, post(client, f"/api/invoices/{invoice['id']}/bids/{first['id']}/accept", t.seller))
        answers = await asyncio.gather(*calls)
        accept = answers.pop(25)
        assert accept.status_code == 200, await accept.get_data(as_text=True)
        assert {answer.status_code for answer in answers} <= {200, 409}
        late = [answer for answer in answers if answer.status_code == 409]
        for answer in late:
            assert (await answer.get_json())["error"]["code"] == "invoice_not_listed"
        balances = [await balance(client, investor) for investor in investors]
        assert balances[0] == 2_000_000 - 901_234
        assert balances[1:] == [2_000_000] * 49  # every other bid refunded, or refused before it moved anything
        assert await escrow(market, invoice["id"]) == 0
        fee = 901_234 * FEE_BPS // 10_000
        assert await balance(client, t.seller) == 901_234 - fee
        report = await ledger.check(market)
        assert report.ok, report.problems


@pytest.mark.real_redis
async def test_one_investor_replacing_and_withdrawing_at_once_keeps_escrow_equal_to_the_bid(
        real_backend: Backend, clock: FixedClock) -> None:
    application = real_backend.app(clock)
    async with application.test_app():
        client = application.test_client()
        market: Market = application.extensions["market"]
        t = await trio(client, investor_money=2_000_000)
        invoice = await listed(client, t)
        for _ in range(3):
            calls = [bid(client, t.investor, invoice["id"], 900_000 + 2_459 * n) if n % 3 else
                     client.delete(f"/api/invoices/{invoice['id']}/bids/mine", headers=t.investor.headers)
                     for n in range(40)]
            answers = await asyncio.gather(*calls)
            assert {answer.status_code for answer in answers} <= {200, 404}
            own = (await get_json(client, f"/api/invoices/{invoice['id']}/bids", t.investor))["bids"]
            held = own[0]["amount"] if own else 0
            assert len(own) <= 1
            assert await escrow(market, invoice["id"]) == held
            assert await balance(client, t.investor) == 2_000_000 - held
            report = await ledger.check(market)
            assert report.ok, report.problems


async def test_the_check_finds_escrow_that_differs_from_the_pending_bids(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=2_000_000)
    invoice = await listed(client, t)
    await bid(client, t.investor, invoice["id"], 950_000)
    assert (await ledger.check(market)).ok
    # a bid that left the pending set while its money stayed behind
    bid_id = await market.redis.hget(market.keys.invoice_bidders(invoice["id"]), t.investor.id)
    await market.redis.zrem(market.keys.invoice_bids(invoice["id"]), bid_id)
    problems = (await ledger.check(market)).problems
    assert f"invoice {invoice['id']}: escrow holds 950000, its pending bids 0" in problems
