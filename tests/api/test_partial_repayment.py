"""Repayment of any amount up to what is outstanding (DESIGN 9.5), for a whole invoice (its one holder):
while funded, overdue or defaulted; paid in full it is repaid, or recovered when it had defaulted; every
payment tells the holder, the seller and the buyer what is left."""

from __future__ import annotations

import json

import pytest
from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.clock import FixedClock
from finance.market import Market
from finance.marketplace import aging
from tests.helpers.api import (
    DAY_MS,
    START_MS,
    balance,
    create_invoice,
    deposit,
    fund,
    get_json,
    refused,
    repay,
    trio,
)

FACE, PRICE = 1_000_003, 950_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


async def test_five_odd_instalments_across_overdue_and_default_recover_every_paisa(
        client: Client, market: Market, clock: FixedClock) -> None:
    t = await trio(client, investor_money=PRICE)
    await deposit(client, t.buyer, 2_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=FACE, ask_amount=900_000, due_days=10,
                                   now_ms=START_MS)
    assert (await fund(client, t.investor, invoice["id"], PRICE)).status_code == 200
    instalments = [(0, 123_457), (11 * DAY_MS, 200_001), (0, 99_999), (31 * DAY_MS, 300_000), (0, 276_546)]
    assert sum(amount for _, amount in instalments) == FACE
    statuses, paid = [], 0
    for wait, amount in instalments:
        clock.advance(wait)
        await aging.age_once(market)
        answer = await repay(client, t.buyer, invoice["id"], amount)
        assert answer.status_code == 200, await answer.get_data(as_text=True)
        data = await answer.get_json()
        paid += amount
        assert (data["invoice"]["received"], data["invoice"]["outstanding"]) == (paid, FACE - paid)
        statuses.append(data["invoice"]["status"])
        assert await balance(client, t.investor) == paid
    assert statuses == ["funded", "overdue", "overdue", "defaulted", "recovered"]
    read = await get_json(client, f"/api/invoices/{invoice['id']}", t.investor)
    assert read["invoice"]["status"] == "recovered"
    portfolio = await get_json(client, "/api/users/portfolio", t.investor)
    assert portfolio["investments"][0]["status"] == "recovered"
    for party in (t.investor, t.seller, t.buyer):
        events = [json.loads(fields["data"]) for _, fields in await market.redis.xrange(
            market.keys.user_stream(party.id)) if fields["event"] == "invoiceRepaid"]
        assert [(e["amount"], e["outstanding"]) for e in events] == [
            (amount, FACE - sum(a for _, a in instalments[:n + 1])) for n, (_, amount) in enumerate(instalments)]
    stats = (await get_json(client, "/api/users/dashboard", t.buyer))["stats"]
    assert (stats["repaidAmount"], stats["recoveredAmount"], stats["defaultedAmount"]) == (
        123_457 + 200_001 + 99_999, 300_000 + 276_546, FACE - (123_457 + 200_001 + 99_999))
    assert stats["outstandingAmount"] == 0
    await refused(await repay(client, t.buyer, invoice["id"], 1), 409, "invoice_not_repayable")
    report = await ledger.check(market)
    assert report.ok, report.problems


async def test_more_than_outstanding_or_nothing_is_refused_and_moves_nothing(client: Client) -> None:
    t = await trio(client, investor_money=PRICE)
    await deposit(client, t.buyer, 2_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=FACE, ask_amount=900_000, now_ms=START_MS)
    await fund(client, t.investor, invoice["id"], PRICE)
    assert (await repay(client, t.buyer, invoice["id"], 3)).status_code == 200
    await refused(await repay(client, t.buyer, invoice["id"], FACE - 2), 422, "amount_out_of_range")
    await refused(await repay(client, t.buyer, invoice["id"], 0), 422, "invalid_amount")
    assert await balance(client, t.buyer) == 2_000_000 - 3
    whole = await repay(client, t.buyer, invoice["id"])  # no amount: all that is left
    data = await whole.get_json()
    assert (data["invoice"]["status"], data["invoice"]["outstanding"], data["investment"]["status"]) == (
        "repaid", 0, "settled")
    assert await balance(client, t.investor) == FACE


async def test_a_partly_paid_invoice_defaults_on_what_is_left(client: Client, market: Market,
                                                              clock: FixedClock) -> None:
    t = await trio(client, investor_money=PRICE)
    await deposit(client, t.buyer, 400_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=FACE, ask_amount=900_000, due_days=5,
                                   now_ms=START_MS)
    await fund(client, t.investor, invoice["id"], PRICE)
    await repay(client, t.buyer, invoice["id"], 400_000)
    clock.advance(40 * DAY_MS)
    assert (await aging.age_once(market))["defaulted"] == 1
    buyer = (await get_json(client, "/api/users/dashboard", t.buyer))["stats"]
    assert (buyer["defaultedAmount"], buyer["outstandingAmount"]) == (FACE - 400_000, 0)
    investor = (await get_json(client, "/api/users/dashboard", t.investor))["stats"]
    assert (investor["realizedReturn"], investor["defaultedReturn"]) == (400_000, FACE - 400_000)
    assert (await ledger.check(market)).ok
