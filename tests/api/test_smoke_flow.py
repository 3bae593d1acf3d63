"""The whole happy path once, on both backends: list, fund, repay, with exact balances."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from tests.helpers.api import balance, create_invoice, deposit, fund, trio


async def test_list_fund_repay_moves_exact_amounts(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    assert invoice["status"] == "listed"

    response = await fund(client, t.investor, invoice["id"], 470_000)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["invoice"]["status"] == "funded"
    assert body["investment"] == {
        "id": body["investment"]["id"], "invoiceId": invoice["id"], "investorId": t.investor.id,
        "claim": 500_000, "amount": 470_000, "expectedReturn": 500_000, "profit": 30_000, "received": 0,
        "status": "active",
        "createdAt": body["investment"]["createdAt"],
    }
    assert body["wallet"] == {"balance": 530_000, "currency": "INR"}
    assert await balance(client, t.seller) == 470_000

    await deposit(client, t.buyer, 600_000)
    response = await client.post(f"/api/invoices/{invoice['id']}/repay", headers=t.buyer.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["invoice"]["status"] == "repaid"
    assert body["investment"]["status"] == "settled"
    assert await balance(client, t.buyer) == 100_000
    assert await balance(client, t.investor) == 1_030_000
