"""Well-formed but unacceptable values: 422 with the exact code, and nothing moved or created.

Amounts (DESIGN section 4): integers in paise, 1 .. 10^15. Funding: askAmount <= amount <= face value,
both bounds inclusive. Due dates strictly in the future.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock, iso_from_ms
from tests.helpers.api import (
    DAY_MS,
    Actor,
    create_invoice,
    deposit,
    fund,
    ledger_state,
    listed,
    post,
    refused,
    register,
    trio,
)

START_MS = 1_900_000_000_000  # 2030-03-17T17:46:40Z


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


def invoice_body(buyer: Actor, **overrides: Any) -> dict[str, Any]:
    body = {"invoiceNumber": "INV-422", "buyerId": buyer.id, "amount": 500_000, "askAmount": 450_000,
            "dueDate": iso_from_ms(START_MS + 30 * DAY_MS)}
    return {**body, **overrides}


async def seller_invoices(client: Client, seller: Actor) -> list[str]:
    page = await (await client.get("/api/invoices/seller", headers=seller.headers)).get_json()
    return [row["id"] for row in page["invoices"]]


async def test_funding_outside_ask_and_face_value_is_422_amount_out_of_range(client: Client) -> None:
    t = await trio(client, investor_money=2_000_000)
    invoice = await listed(client, t, amount=500_000, ask_amount=450_000)
    before = await ledger_state(client, t.investor, t.seller)
    for amount in (449_999, 1, 500_001, 10**15):
        await refused(await fund(client, t.investor, invoice["id"], amount), 422, "amount_out_of_range")
    assert await ledger_state(client, t.investor, t.seller) == before
    body = await (await client.get(f"/api/invoices/{invoice['id']}", headers=t.investor.headers)).get_json()
    assert body["invoice"]["status"] == "listed"


@pytest.mark.parametrize("amount", [450_000, 500_000], ids=["askAmount", "amount"])
async def test_funding_at_either_bound_is_accepted(client: Client, amount: int) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t, amount=500_000, ask_amount=450_000)
    response = await fund(client, t.investor, invoice["id"], amount)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert (body["investment"]["amount"], body["investment"]["profit"]) == (amount, 500_000 - amount)
    assert body["wallet"]["balance"] == 1_000_000 - amount


async def test_ask_equal_to_amount_is_listed_and_above_it_is_422_ask_above_amount(client: Client) -> None:
    t = await trio(client)
    equal = await post(client, "/api/invoices/create", t.seller, invoice_body(t.buyer, askAmount=500_000))
    assert equal.status_code == 201
    response = await post(client, "/api/invoices/create", t.seller,
                          invoice_body(t.buyer, invoiceNumber="INV-2", askAmount=500_001))
    await refused(response, 422, "ask_above_amount")
    assert len(await seller_invoices(client, t.seller)) == 1


@pytest.mark.parametrize("due_date", [
    iso_from_ms(START_MS), iso_from_ms(START_MS - 1), "2030-03-17", "2020-01-01", "2030-03-17T23:00:00+05:30",
    "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
], ids=["now", "a-ms-ago", "today-midnight", "past-date", "past-in-ist", "epoch", "year-1"])
async def test_due_date_now_or_past_is_422_due_date_not_in_future(client: Client, due_date: str) -> None:
    t = await trio(client)
    response = await post(client, "/api/invoices/create", t.seller, invoice_body(t.buyer, dueDate=due_date))
    await refused(response, 422, "due_date_not_in_future")
    assert await seller_invoices(client, t.seller) == []


async def test_due_date_a_millisecond_ahead_is_accepted(client: Client) -> None:
    t = await trio(client)
    response = await post(client, "/api/invoices/create", t.seller,
                          invoice_body(t.buyer, dueDate=iso_from_ms(START_MS + 1)))
    assert response.status_code == 201
    assert (await response.get_json())["invoice"]["dueDate"] == iso_from_ms(START_MS + 1)


async def test_buyer_id_that_is_no_buyer_is_422_invalid_buyer(client: Client) -> None:
    t = await trio(client)
    other_seller = await register(client, "seller")
    for buyer_id in ("usr_00000000000000000000", other_seller.id, t.seller.id, t.investor.id, "", "x" * 500):
        response = await post(client, "/api/invoices/create", t.seller, invoice_body(t.buyer, buyerId=buyer_id))
        await refused(response, 422, "invalid_buyer")
    assert await seller_invoices(client, t.seller) == []


BAD_AMOUNTS = [0, -1, -(10**15), 10**15 + 1]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_amount_outside_one_to_ten_to_the_15_is_422_invalid_amount(client: Client, amount: int) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t)
    before = await ledger_state(client, t.seller, t.investor)
    await refused(await post(client, "/api/wallet/deposit", t.investor, {"amount": amount}), 422, "invalid_amount")
    await refused(await post(client, "/api/wallet/withdraw", t.investor, {"amount": amount}), 422, "invalid_amount")
    await refused(await fund(client, t.investor, invoice["id"], amount), 422, "invalid_amount")
    for fields in ({"amount": amount}, {"askAmount": amount}, {"amount": amount, "askAmount": amount}):
        response = await post(client, "/api/invoices/create", t.seller, invoice_body(t.buyer, **fields))
        await refused(response, 422, "invalid_amount")
    assert await ledger_state(client, t.seller, t.investor) == before
    assert await seller_invoices(client, t.seller) == [invoice["id"]]


async def test_amounts_of_exactly_ten_to_the_15_are_accepted(client: Client) -> None:
    t = await trio(client, investor_money=0)
    await deposit(client, t.investor, 10**15)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=10**15, ask_amount=10**15, now_ms=START_MS)
    assert (invoice["amount"], invoice["askAmount"]) == (10**15, 10**15)
    response = await fund(client, t.investor, invoice["id"], 10**15)
    assert response.status_code == 200
    assert (await response.get_json())["investment"]["amount"] == 10**15
    withdrawn = await post(client, "/api/wallet/withdraw", t.seller, {"amount": 10**15})
    assert (await withdrawn.get_json())["wallet"] == {"balance": 0, "currency": "INR"}


REGISTRATION = {"name": "Asha", "email": "asha@example.com", "password": "correct-horse", "role": "seller"}
BAD_FIELDS = [
    {"email": "no-at-sign"}, {"email": "a@b"}, {"email": "a b@c.de"}, {"email": ""}, {"email": "@example.com"},
    {"email": "x" * 250 + "@example.com"},
    {"password": "1234567"}, {"password": ""}, {"password": "p" * 257},
    {"role": "admin"}, {"role": ""}, {"role": "Seller "},
    {"name": ""}, {"name": "   "}, {"name": "n" * 201}, {"company": "c" * 201},
]


@pytest.mark.parametrize("field", BAD_FIELDS, ids=[f"{k}-{str(v)[:12]}" for f in BAD_FIELDS for k, v in f.items()])
async def test_bad_registration_field_is_422_invalid_field(client: Client, field: dict[str, str]) -> None:
    response = await client.post("/api/auth/register", json={**REGISTRATION, **field})
    await refused(response, 422, "invalid_field")
    # nothing was created: the email is still free
    assert (await client.post("/api/auth/register", json=REGISTRATION)).status_code == 201


INVOICE_FIELDS = [
    {"invoiceNumber": ""}, {"invoiceNumber": "   "}, {"invoiceNumber": "N" * 65}, {"description": "d" * 1_001},
    {"dueDate": "tomorrow"}, {"dueDate": "2031-02-30"}, {"dueDate": "2031-01-01T00:00:00"}, {"dueDate": ""},
    {"dueDate": "31/01/2031"}, {"dueDate": iso_from_ms(START_MS + 11 * 366 * DAY_MS)},
]


@pytest.mark.parametrize("field", INVOICE_FIELDS, ids=[f"{k}-{str(v)[:12]}" for f in INVOICE_FIELDS
                                                       for k, v in f.items()])
async def test_bad_invoice_field_is_422_invalid_field(client: Client, field: dict[str, str]) -> None:
    t = await trio(client)
    response = await post(client, "/api/invoices/create", t.seller, invoice_body(t.buyer, **field))
    await refused(response, 422, "invalid_field")
    assert await seller_invoices(client, t.seller) == []
