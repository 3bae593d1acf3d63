"""The events each money script appends, in the same step as the change: exact names, order and data."""

from __future__ import annotations

import json
from typing import Any

from quart.typing import TestClientProtocol as Client

from finance.market import Market
from tests.helpers.api import create_invoice, deposit, fund, trio


async def events(market: Market, stream: str) -> list[tuple[str, dict[str, Any]]]:
    entries = await market.redis.xrange(stream)
    return [(fields["event"], json.loads(fields["data"])) for _, fields in entries]


async def test_fund_and_repay_append_exact_events_to_each_stream(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=400_000)
    funded = await (await fund(client, t.investor, invoice["id"], 450_000)).get_json()
    await deposit(client, t.buyer, 500_000)
    response = await client.post(f"/api/invoices/{invoice['id']}/repay", headers=t.buyer.headers)
    assert response.status_code == 200
    keys = market.keys
    number = invoice["invoiceNumber"]

    market_events = await events(market, keys.market_stream())
    assert market_events == [
        ("newInvoiceListed", {"id": invoice["id"], "invoiceNumber": number, "amount": 500_000,
                              "askAmount": 400_000, "seller": "Seller Pvt Ltd", "buyer": "Buyer Corp",
                              "sellerId": t.seller.id, "buyerId": t.buyer.id,
                              "dueDate": invoice["dueDate"], "timestamp": invoice["createdAt"]}),
        ("invoiceUpdated", {"id": invoice["id"], "invoiceNumber": number, "status": "funded"}),
        ("invoiceUpdated", {"id": invoice["id"], "invoiceNumber": number, "status": "repaid"}),
    ]

    seller_events = await events(market, keys.user_stream(t.seller.id))
    assert [name for name, _ in seller_events] == ["walletUpdated", "invoiceFunded", "invoiceRepaid"]
    assert seller_events[1][1] == {"invoiceId": invoice["id"], "invoiceNumber": number, "amount": 450_000,
                                   "platformFee": 0, "investor": t.investor.name, "newBalance": 450_000}
    assert seller_events[2][1] == {"invoiceId": invoice["id"], "invoiceNumber": number, "amount": 500_000,
                                   "outstanding": 0, "newBalance": 450_000}

    investor_events = await events(market, keys.user_stream(t.investor.id))
    assert [name for name, _ in investor_events] == [
        "walletUpdated", "walletUpdated", "investmentSuccess", "walletUpdated", "invoiceRepaid"]
    assert investor_events[1][1] == {"balance": 550_000, "transaction": funded_transaction(investor_events)}
    assert investor_events[2][1] == {"invoiceId": invoice["id"], "invoiceNumber": number, "amount": 450_000,
                                     "expectedReturn": 500_000, "profit": 50_000, "newBalance": 550_000}
    assert investor_events[4][1]["newBalance"] == 1_050_000
    assert funded["wallet"]["balance"] == 550_000

    buyer_events = await events(market, keys.user_stream(t.buyer.id))
    assert [name for name, _ in buyer_events] == ["walletUpdated", "walletUpdated", "invoiceRepaid"]
    assert buyer_events[2][1]["newBalance"] == 0


def funded_transaction(investor_events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    transaction = investor_events[1][1]["transaction"]
    assert transaction["type"] == "debit"
    assert transaction["amount"] == 450_000
    assert transaction["balanceAfter"] == 550_000
    assert transaction["invoiceId"] == investor_events[2][1]["invoiceId"]
    return dict(transaction)


async def test_a_refused_funding_appends_no_event(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=100)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=400_000)
    before = await market.redis.xlen(market.keys.market_stream())
    response = await fund(client, t.investor, invoice["id"], 450_000)
    assert response.status_code == 409
    assert await market.redis.xlen(market.keys.market_stream()) == before
    assert [n for n, _ in await events(market, market.keys.user_stream(t.investor.id))] == ["walletUpdated"]
    assert await market.redis.xlen(market.keys.user_stream(t.seller.id)) == 0


async def test_amounts_up_to_ten_to_the_fifteen_stay_exact_in_json(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=10**15)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=10**15 - 1, ask_amount=10**15 - 3)
    assert invoice["amount"] == 999_999_999_999_999
    body = await (await fund(client, t.investor, invoice["id"], 10**15 - 2)).get_json()
    assert body["investment"]["profit"] == 1
    assert body["wallet"]["balance"] == 2
    _, data = (await events(market, market.keys.user_stream(t.seller.id)))[-1]
    assert data["amount"] == 999_999_999_999_998


async def test_streams_are_capped_at_the_configured_length(backend: Any) -> None:
    app = backend.app(user_stream_length_max=10)
    async with app.test_app():
        client = app.test_client()
        market: Market = app.extensions["market"]
        t = await trio(client, investor_money=0)
        for _ in range(300):
            await deposit(client, t.investor, 1)
        # MAXLEN ~ trims whole nodes: the stream stays near the cap, far below what was written
        assert await market.redis.xlen(market.keys.user_stream(t.investor.id)) < 150
        # the ledger entries are the books, never trimmed
        assert await market.redis.xlen(market.keys.wallet_entries(t.investor.id)) == 300
