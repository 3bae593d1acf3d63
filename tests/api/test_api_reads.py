"""Every route's success shape (DESIGN section 5), with exact figures, on both backends.

Time is pinned (FixedClock) so timestamps, due dates and the dashboard's "today" are exact.
The marketplace's filters, sorts and pagination are in test_api_reads_marketplace.py; the dashboard
and the portfolio in test_api_reads_stats.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock, iso_from_ms
from tests.helpers.api import (
    DAY_MS,
    START_MS,
    balance,
    deposit,
    fund,
    get_json,
    listed_invoice,
    post_json,
    register,
    trio,
)

NOW_ISO = iso_from_ms(START_MS)
NULL_FUNDING = {"investorId": None, "fundedAmount": None, "expectedReturn": None, "profit": None,
                "platformFee": None, "received": None, "outstanding": None, "minTicket": None, "fundingDeadline": None,
                "fundedClaim": None, "remainingClaim": None, "acceptBy": None, "acceptedAt": None,
                "rejectionReason": None, "fundedAt": None,
                "repaidAt": None}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


# --- auth and profile ---------------------------------------------------------------------------------


async def test_register_returns_201_with_user_and_token(client: Client) -> None:
    body = {"name": " Asha Rao ", "email": "Asha@Example.COM", "password": "correct-horse", "role": "seller",
            "company": "Rao Textiles"}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201
    data = await response.get_json()
    assert set(data) == {"user", "token"}
    assert data["user"] == {"id": data["user"]["id"], "name": "Asha Rao", "email": "asha@example.com",
                            "role": "seller", "company": "Rao Textiles", "createdAt": NOW_ISO}
    assert data["user"]["id"].startswith("usr_")
    assert isinstance(data["token"], str) and len(data["token"]) >= 32


async def test_register_without_company_gives_null_company(client: Client) -> None:
    response = await client.post("/api/auth/register", json={"name": "Ravi", "email": "ravi@example.com",
                                                             "password": "correct-horse", "role": "buyer"})
    assert response.status_code == 201
    assert (await response.get_json())["user"]["company"] is None


async def test_login_returns_user_and_a_new_working_token(client: Client) -> None:
    seller = await register(client, "seller")
    response = await client.post("/api/auth/login", json={"email": seller.email.upper(), "password": "correct-horse"})
    assert response.status_code == 200
    data = await response.get_json()
    assert set(data) == {"user", "token"}
    assert data["user"]["id"] == seller.id and data["user"]["role"] == "seller"
    assert data["token"] != seller.token
    profile = await client.get("/api/users/profile", headers={"Authorization": f"Bearer {data['token']}"})
    assert profile.status_code == 200


async def test_logout_gives_204_and_the_token_stops_working(client: Client) -> None:
    investor = await register(client, "investor")
    other_session = await post_json(client, "/api/auth/login", investor,
                                    {"email": investor.email, "password": "correct-horse"})

    response = await client.post("/api/auth/logout", headers=investor.headers)
    assert response.status_code == 204
    assert await response.get_data() == b""

    after = await client.get("/api/users/profile", headers=investor.headers)
    assert after.status_code == 401
    assert (await after.get_json())["error"]["code"] == "unauthorized"
    # only that token is revoked: the other session still works
    other = await client.get("/api/users/profile", headers={"Authorization": f"Bearer {other_session['token']}"})
    assert other.status_code == 200


async def test_profile_is_the_caller(client: Client) -> None:
    buyer = await register(client, "buyer", name="Meera", company="Meera Foods")
    data = await get_json(client, "/api/users/profile", buyer)
    assert data == {"user": {"id": buyer.id, "name": "Meera", "email": buyer.email, "role": "buyer",
                             "company": "Meera Foods", "createdAt": NOW_ISO}}


# --- wallet ---------------------------------------------------------------------------------------------


async def test_new_wallet_is_empty_in_inr(client: Client) -> None:
    seller = await register(client, "seller")
    assert await get_json(client, "/api/wallet", seller) == {"balance": 0, "currency": "INR"}


async def test_deposit_and_withdraw_return_wallet_and_transaction(client: Client) -> None:
    investor = await register(client, "investor")
    data = await deposit(client, investor, 1_000_000)
    assert data == {"wallet": {"balance": 1_000_000, "currency": "INR"},
                    "transaction": {"id": data["transaction"]["id"], "type": "credit", "amount": 1_000_000,
                                    "balanceAfter": 1_000_000, "description": "Deposit from bank",
                                    "invoiceId": None, "createdAt": NOW_ISO}}

    data = await post_json(client, "/api/wallet/withdraw", investor, {"amount": 250_001})
    assert data == {"wallet": {"balance": 749_999, "currency": "INR"},
                    "transaction": {"id": data["transaction"]["id"], "type": "debit", "amount": 250_001,
                                    "balanceAfter": 749_999, "description": "Withdrawal to bank",
                                    "invoiceId": None, "createdAt": NOW_ISO}}
    assert await get_json(client, "/api/wallet", investor) == {"balance": 749_999, "currency": "INR"}


async def test_deposit_up_to_the_balance_limit_is_exact(client: Client) -> None:
    investor = await register(client, "investor")
    await deposit(client, investor, 10**15 - 1)
    data = await deposit(client, investor, 1)
    assert data["wallet"]["balance"] == 10**15
    assert await balance(client, investor) == 10**15


async def test_transactions_list_every_entry_newest_first_with_exact_fields(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000, number="INV-7")
    assert (await fund(client, t.investor, invoice["id"], 470_000)).status_code == 200
    await post_json(client, "/api/wallet/withdraw", t.investor, {"amount": 100_000})
    await deposit(client, t.buyer, 600_000)
    await post_json(client, f"/api/invoices/{invoice['id']}/repay", t.buyer)

    def entry(kind: str, amount: int, after: int, description: str, invoice_id: str | None) -> dict[str, Any]:
        return {"type": kind, "amount": amount, "balanceAfter": after, "description": description,
                "invoiceId": invoice_id, "createdAt": NOW_ISO}

    def without_ids(page: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "id"} for row in page["transactions"]]

    investor_page = await get_json(client, "/api/wallet/transactions", t.investor)
    assert investor_page["nextCursor"] is None
    assert without_ids(investor_page) == [
        entry("credit", 500_000, 930_000, "Invoice INV-7 repaid", invoice["id"]),
        entry("debit", 100_000, 430_000, "Withdrawal to bank", None),
        entry("debit", 470_000, 530_000, "Funded Invoice INV-7", invoice["id"]),
        entry("credit", 1_000_000, 1_000_000, "Deposit from bank", None),
    ]
    assert without_ids(await get_json(client, "/api/wallet/transactions", t.seller)) == [
        entry("credit", 470_000, 470_000, "Invoice INV-7 funded", invoice["id"]),
    ]
    assert without_ids(await get_json(client, "/api/wallet/transactions", t.buyer)) == [
        entry("debit", 500_000, 100_000, "Repaid Invoice INV-7", invoice["id"]),
        entry("credit", 600_000, 600_000, "Deposit from bank", None),
    ]


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
async def test_transaction_pages_cover_every_entry_exactly_once(client: Client, limit: int) -> None:
    investor = await register(client, "investor")
    for amount in range(1, 8):
        await deposit(client, investor, amount)
    everything = (await get_json(client, "/api/wallet/transactions?limit=100", investor))["transactions"]
    assert [row["amount"] for row in everything] == [7, 6, 5, 4, 3, 2, 1]

    seen: list[dict[str, Any]] = []
    path = f"/api/wallet/transactions?limit={limit}"
    for _ in range(10):
        page = await get_json(client, path, investor)
        assert len(page["transactions"]) <= limit
        seen += page["transactions"]
        if page["nextCursor"] is None:
            break
        path = f"/api/wallet/transactions?limit={limit}&before={page['nextCursor']}"
    assert seen == everything


# --- invoices: create, read, the parties' lists ------------------------------------------------------------


async def test_create_invoice_returns_201_with_the_full_invoice_shape(client: Client) -> None:
    t = await trio(client)
    body = {"invoiceNumber": "GST/2030/001", "buyerId": t.buyer.id, "amount": 10_000_000, "askAmount": 9_500_000,
            "dueDate": "2030-06-30", "description": "500 bolts of cotton"}
    data = await post_json(client, "/api/invoices/create", t.seller, body, status=201)
    assert set(data) == {"invoice"}
    invoice = data["invoice"]
    assert invoice["id"].startswith("inv_")
    assert invoice == {
        "id": invoice["id"], "invoiceNumber": "GST/2030/001", "sellerId": t.seller.id, "seller": "Seller Pvt Ltd",
        "buyerId": t.buyer.id, "buyer": "Buyer Corp", "amount": 10_000_000, "askAmount": 9_500_000,
        "currency": "INR", "dueDate": "2030-06-30T00:00:00.000Z", "status": "listed",
        "description": "500 bolts of cotton", "createdAt": NOW_ISO, **NULL_FUNDING,
    }


async def test_display_names_fall_back_to_the_users_name(client: Client) -> None:
    seller = await register(client, "seller", name="Kiran Shah")
    buyer = await register(client, "buyer", name="Lata Iyer")
    invoice = await listed_invoice(client, seller, buyer)
    assert (invoice["seller"], invoice["buyer"], invoice["description"]) == ("Kiran Shah", "Lata Iyer", "")


async def test_listed_invoice_is_readable_by_anyone_and_by_its_parties(client: Client) -> None:
    t = await trio(client)
    invoice = await listed_invoice(client, t.seller, t.buyer)
    strangers = [await register(client, role) for role in ("seller", "investor", "buyer")]
    for reader in [t.seller, t.buyer, t.investor, *strangers]:
        assert await get_json(client, f"/api/invoices/{invoice['id']}", reader) == {"invoice": invoice}


async def test_funded_invoice_is_visible_to_its_parties_only(client: Client) -> None:
    t = await trio(client)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=200_000, ask_amount=150_000)
    funded = await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor, {"amount": 180_000})
    for party in (t.seller, t.buyer, t.investor):
        assert await get_json(client, f"/api/invoices/{invoice['id']}", party) == {"invoice": funded["invoice"]}
    for role in ("seller", "investor", "buyer"):
        stranger = await register(client, role)
        body = await get_json(client, f"/api/invoices/{invoice['id']}", stranger, status=404)
        assert body["error"]["code"] == "invoice_not_found"


async def test_fund_returns_invoice_investment_and_wallet(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    data = await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor, {"amount": 470_000})
    assert set(data) == {"invoice", "investment", "wallet"}
    assert data["invoice"] == {**invoice, "status": "funded", "investorId": t.investor.id, "fundedAmount": 470_000,
                               "expectedReturn": 500_000, "profit": 30_000, "platformFee": 0, "received": 0,
                               "outstanding": 500_000, "fundedAt": NOW_ISO}
    assert data["investment"]["id"].startswith("ivt_")
    assert data["investment"] == {"id": data["investment"]["id"], "invoiceId": invoice["id"],
                                  "investorId": t.investor.id, "claim": 500_000, "amount": 470_000,
                                  "expectedReturn": 500_000, "profit": 30_000, "received": 0, "status": "active",
                                  "createdAt": NOW_ISO}
    assert data["wallet"] == {"balance": 530_000, "currency": "INR"}
    assert await balance(client, t.seller) == 470_000


async def test_repay_returns_repaid_invoice_and_settled_investment(client: Client, clock: FixedClock) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    funded = await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor, {"amount": 470_000})
    await deposit(client, t.buyer, 500_000)
    clock.advance(DAY_MS)

    data = await post_json(client, f"/api/invoices/{invoice['id']}/repay", t.buyer)
    repaid_at = iso_from_ms(START_MS + DAY_MS)
    assert data["invoice"] == {**funded["invoice"], "status": "repaid", "repaidAt": repaid_at, "received": 500_000,
                               "outstanding": 0}
    assert data["investment"] == {**funded["investment"], "status": "settled", "received": 500_000}
    assert (await balance(client, t.buyer), await balance(client, t.investor)) == (0, 1_030_000)


async def test_cancel_returns_the_cancelled_invoice_and_unlists_it(client: Client) -> None:
    t = await trio(client)
    invoice = await listed_invoice(client, t.seller, t.buyer)
    data = await post_json(client, f"/api/invoices/{invoice['id']}/cancel", t.seller)
    assert data == {"invoice": {**invoice, "status": "cancelled"}}
    market = await get_json(client, "/api/invoices/marketplace", t.investor)
    assert market == {"invoices": [], "nextCursor": None}
    assert await get_json(client, f"/api/invoices/{invoice['id']}", t.seller) == data
    body = await get_json(client, f"/api/invoices/{invoice['id']}", t.investor, status=404)
    assert body["error"]["code"] == "invoice_not_found"


async def test_each_party_lists_its_own_invoices_newest_first(client: Client, clock: FixedClock) -> None:
    t = await trio(client, investor_money=1_000_000)
    other = await trio(client, investor_money=1_000_000)
    first = await listed_invoice(client, t.seller, t.buyer, amount=100_000, ask_amount=90_000)
    clock.advance(1_000)
    second = await listed_invoice(client, t.seller, t.buyer, amount=200_000, ask_amount=190_000)
    clock.advance(1_000)
    await listed_invoice(client, other.seller, other.buyer)  # someone else's
    clock.advance(1_000)
    funded = (await post_json(client, f"/api/invoices/{first['id']}/fund", t.investor, {"amount": 95_000}))["invoice"]

    def ids(page: dict[str, Any]) -> list[str]:
        return [row["id"] for row in page["invoices"]]

    seller_page = await get_json(client, "/api/invoices/seller", t.seller)
    assert seller_page == {"invoices": [second, funded], "nextCursor": None}
    assert ids(await get_json(client, "/api/invoices/buyer", t.buyer)) == [second["id"], first["id"]]
    assert await get_json(client, "/api/invoices/investor", t.investor) == {"invoices": [funded], "nextCursor": None}
    assert ids(await get_json(client, "/api/invoices/seller?status=funded", t.seller)) == [first["id"]]
    assert ids(await get_json(client, "/api/invoices/buyer?status=listed", t.buyer)) == [second["id"]]
    assert ids(await get_json(client, "/api/invoices/investor", other.investor)) == []


async def test_own_invoice_list_pages_cover_every_invoice_exactly_once(client: Client) -> None:
    t = await trio(client)
    created = [(await listed_invoice(client, t.seller, t.buyer))["id"] for _ in range(25)]  # same millisecond
    default = await get_json(client, "/api/invoices/seller", t.seller)
    assert len(default["invoices"]) == 20 and default["nextCursor"] is not None
    for path in ("/api/invoices/seller", "/api/invoices/buyer"):
        actor = t.seller if path.endswith("seller") else t.buyer
        seen: list[str] = []
        query = "limit=3"
        for _ in range(20):
            page = await get_json(client, f"{path}?{query}", actor)
            seen += [row["id"] for row in page["invoices"]]
            if page["nextCursor"] is None:
                break
            query = f"limit=3&cursor={page['nextCursor']}"
        assert len(seen) == len(set(seen)) == 25 and set(seen) == set(created), path


# --- health and docs ----------------------------------------------------------------------------------------


async def test_health_says_redis_is_up(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok", "redis": "up"}


async def test_openapi_lists_the_api_paths_and_docs_are_served(client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = (await response.get_json())["paths"]
    expected = {
        "/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/users/profile", "/api/users/dashboard",
        "/api/users/portfolio", "/api/wallet", "/api/wallet/deposit", "/api/wallet/withdraw",
        "/api/wallet/transactions", "/api/invoices/create", "/api/invoices/marketplace", "/api/invoices/seller",
        "/api/invoices/investor", "/api/invoices/buyer", "/api/invoices/{invoice_id}",
        "/api/invoices/{invoice_id}/fund", "/api/invoices/{invoice_id}/repay", "/api/invoices/{invoice_id}/cancel",
        "/health",
    }
    assert expected <= set(paths)
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["Content-Type"]
