"""Every refusal with its exact status and code: who you are (401), what your role may do (403), what
does not exist for you (404), and state conflicts (409). A refused money operation moves nothing.

Well-formed but unacceptable values (422) are in test_api_refusals_values.py; malformed input (400, 413)
in test_api_validation.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock
from tests.helpers.api import (
    START_MS,
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


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


# --- 401 --------------------------------------------------------------------------------------------------

AUTHENTICATED = [
    ("POST", "/api/auth/logout", None), ("GET", "/api/users/profile", None), ("GET", "/api/users/dashboard", None),
    ("GET", "/api/users/portfolio", None), ("GET", "/api/wallet", None), ("GET", "/api/wallet/transactions", None),
    ("POST", "/api/wallet/deposit", {"amount": 100}), ("POST", "/api/wallet/withdraw", {"amount": 100}),
    ("POST", "/api/invoices/create", {"invoiceNumber": "N-1", "buyerId": "usr_x", "amount": 100, "askAmount": 90,
                                      "dueDate": "2031-01-01"}),
    ("GET", "/api/invoices/marketplace", None), ("GET", "/api/invoices/seller", None),
    ("GET", "/api/invoices/investor", None), ("GET", "/api/invoices/buyer", None),
    ("GET", "/api/invoices/inv_0123456789abcdef0123", None),
    ("POST", "/api/invoices/inv_0123456789abcdef0123/fund", {"amount": 100}),
    ("POST", "/api/invoices/inv_0123456789abcdef0123/repay", None),
    ("POST", "/api/invoices/inv_0123456789abcdef0123/cancel", None),
]


@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED, ids=[f"{m} {p}" for m, p, _ in AUTHENTICATED])
async def test_no_bad_or_revoked_token_is_401_unauthorized(client: Client, method: str, path: str,
                                                           body: Any) -> None:
    revoked = await register(client, "investor")
    assert (await client.post("/api/auth/logout", headers=revoked.headers)).status_code == 204
    headers_tried: list[dict[str, str]] = [
        {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 5_000}, revoked.headers,
    ]
    for headers in headers_tried:
        kwargs: dict[str, Any] = {"headers": headers} if body is None else {"headers": headers, "json": body}
        response = await client.open(path, method=method, **kwargs)
        await refused(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_wrong_password_or_unknown_email_is_401_invalid_credentials(client: Client) -> None:
    seller = await register(client, "seller")
    for body in ({"email": seller.email, "password": "wrong-horse"},
                 {"email": seller.email, "password": "correct-horse "},
                 {"email": "nobody@example.com", "password": "correct-horse"}):
        await refused(await client.post("/api/auth/login", json=body), 401, "invalid_credentials")


# --- 403 --------------------------------------------------------------------------------------------------

ROLE_ROUTES = [
    ("create", ("investor", "buyer")), ("cancel", ("investor", "buyer")), ("fund", ("seller", "buyer")),
    ("repay", ("seller", "investor")), ("portfolio", ("seller", "buyer")), ("seller", ("investor", "buyer")),
    ("investor", ("seller", "buyer")), ("buyer", ("seller", "investor")),
]


@pytest.mark.parametrize(("route", "wrong_roles"), ROLE_ROUTES, ids=[route for route, _ in ROLE_ROUTES])
async def test_wrong_role_is_403_forbidden_and_moves_nothing(client: Client, route: str,
                                                             wrong_roles: tuple[str, ...]) -> None:
    t = await trio(client, investor_money=1_000_000)
    await deposit(client, t.buyer, 1_000_000)
    listed_invoice = await listed(client, t)
    funded_invoice = await listed(client, t)
    assert (await fund(client, t.investor, funded_invoice["id"], 460_000)).status_code == 200
    actors = {"seller": t.seller, "investor": t.investor, "buyer": t.buyer}
    before = await ledger_state(client, *actors.values())
    for role in wrong_roles:
        caller = actors[role]
        if route == "create":
            response = await post(client, "/api/invoices/create", caller, {
                "invoiceNumber": "X-1", "buyerId": t.buyer.id, "amount": 100, "askAmount": 90, "dueDate": "2031-01-01"})
        elif route == "cancel":
            response = await post(client, f"/api/invoices/{listed_invoice['id']}/cancel", caller)
        elif route == "fund":
            response = await post(client, f"/api/invoices/{listed_invoice['id']}/fund", caller, {"amount": 460_000})
        elif route == "repay":
            response = await post(client, f"/api/invoices/{funded_invoice['id']}/repay", caller)
        elif route == "portfolio":
            response = await client.get("/api/users/portfolio", headers=caller.headers)
        else:
            response = await client.get(f"/api/invoices/{route}", headers=caller.headers)
        await refused(response, 403, "forbidden")
    assert await ledger_state(client, *actors.values()) == before
    seller_list = await (await client.get("/api/invoices/seller", headers=t.seller.headers)).get_json()
    assert sorted(row["status"] for row in seller_list["invoices"]) == ["funded", "listed"]


async def test_another_seller_cannot_cancel_a_listed_invoice(client: Client) -> None:
    t = await trio(client)
    invoice = await listed(client, t)
    other = await register(client, "seller")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/cancel", other), 403, "forbidden")
    page = await (await client.get("/api/invoices/marketplace", headers=t.investor.headers)).get_json()
    assert [row["id"] for row in page["invoices"]] == [invoice["id"]]


async def test_non_parties_cannot_see_cancel_or_repay_a_funded_invoice(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t)
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    other_seller, other_buyer = await register(client, "seller"), await register(client, "buyer")
    await deposit(client, other_buyer, 1_000_000)
    before = await ledger_state(client, other_buyer, t.investor)
    path = f"/api/invoices/{invoice['id']}"
    await refused(await post(client, f"{path}/cancel", other_seller), 404, "invoice_not_found")
    await refused(await post(client, f"{path}/repay", other_buyer), 404, "invoice_not_found")
    await refused(await client.get(path, headers=other_buyer.headers), 404, "invoice_not_found")
    assert await ledger_state(client, other_buyer, t.investor) == before


# --- 404 --------------------------------------------------------------------------------------------------

ODD_IDS = ["inv_0123456789abcdef0123", "nope", "..", ".", "%2E%2E", "..%5Cx", "a" * 65, "a" * 2_000, "%00",
           "inv_%E2%9C%93", "x%20y", "x;y", "*", "inv_1%0A", "%7B%7D"]


@pytest.mark.parametrize("invoice_id", ODD_IDS, ids=[i[:20] for i in ODD_IDS])
async def test_unknown_or_odd_invoice_id_is_404_invoice_not_found(client: Client, invoice_id: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    await deposit(client, t.buyer, 1_000_000)
    await listed(client, t)
    before = await ledger_state(client, t.seller, t.investor, t.buyer)
    path = f"/api/invoices/{invoice_id}"
    for actor in (t.seller, t.investor, t.buyer):
        await refused(await client.get(path, headers=actor.headers), 404, "invoice_not_found")
    await refused(await post(client, f"{path}/fund", t.investor, {"amount": 450_000}), 404, "invoice_not_found")
    await refused(await post(client, f"{path}/repay", t.buyer), 404, "invoice_not_found")
    await refused(await post(client, f"{path}/cancel", t.seller), 404, "invoice_not_found")
    assert await ledger_state(client, t.seller, t.investor, t.buyer) == before


async def test_a_path_that_is_no_route_is_404_not_found(client: Client) -> None:
    """'../x' is not one path segment, so no invoice route matches: the HTTP layer's 404."""
    investor = await register(client, "investor")
    for path in ("/api/invoices/../x", "/api/invoices/..%2Fx", "/api/invoices/a/b", "/api/nothing"):
        await refused(await client.get(path, headers=investor.headers), 404, "not_found")


# --- 409 --------------------------------------------------------------------------------------------------


async def test_registering_a_taken_email_is_409_email_taken(client: Client) -> None:
    seller = await register(client, "seller")
    for email in (seller.email, seller.email.upper(), f"  {seller.email} "):
        body = {"name": "Again", "email": email, "password": "correct-horse", "role": "buyer"}
        await refused(await client.post("/api/auth/register", json=body), 409, "email_taken")
    login = await client.post("/api/auth/login", json={"email": seller.email, "password": "correct-horse"})
    assert (await login.get_json())["user"]["role"] == "seller"


async def test_same_seller_same_number_is_409_duplicate_invoice(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    first = await listed(client, t, number="INV-1")
    for number in ("INV-1", " INV-1 "):
        body = {"invoiceNumber": number, "buyerId": t.buyer.id, "amount": 100, "askAmount": 90,
                "dueDate": "2031-01-01"}
        await refused(await post(client, "/api/invoices/create", t.seller, body), 409, "duplicate_invoice")
    # still taken once funded: no double financing of one invoice
    assert (await fund(client, t.investor, first["id"], 450_000)).status_code == 200
    body = {"invoiceNumber": "INV-1", "buyerId": t.buyer.id, "amount": 100, "askAmount": 90, "dueDate": "2031-01-01"}
    await refused(await post(client, "/api/invoices/create", t.seller, body), 409, "duplicate_invoice")
    seller_list = await (await client.get("/api/invoices/seller", headers=t.seller.headers)).get_json()
    assert [row["id"] for row in seller_list["invoices"]] == [first["id"]]


async def test_another_seller_may_reuse_a_number_and_a_cancelled_number_may_be_listed_again(client: Client) -> None:
    t = await trio(client)
    first = await listed(client, t, number="INV-9")
    other = await register(client, "seller")
    theirs = await create_invoice(client, other, t.buyer, number="INV-9", now_ms=START_MS)
    assert theirs["invoiceNumber"] == "INV-9"
    assert (await post(client, f"/api/invoices/{first['id']}/cancel", t.seller)).status_code == 200
    again = await listed(client, t, number="INV-9")
    assert again["id"] != first["id"] and again["status"] == "listed"


async def test_second_investor_gets_invoice_not_listed_and_keeps_their_money(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    second = await register(client, "investor")
    await deposit(client, second, 1_000_000)
    invoice = await listed(client, t)
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    before = await ledger_state(client, second, t.investor, t.seller)
    await refused(await fund(client, second, invoice["id"], 500_000), 409, "invoice_not_listed")
    await refused(await fund(client, t.investor, invoice["id"], 500_000), 409, "invoice_not_listed")
    assert await ledger_state(client, second, t.investor, t.seller) == before


async def test_funding_a_cancelled_invoice_is_409_invoice_not_listed(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t)
    assert (await post(client, f"/api/invoices/{invoice['id']}/cancel", t.seller)).status_code == 200
    before = await ledger_state(client, t.investor, t.seller)
    await refused(await fund(client, t.investor, invoice["id"], 450_000), 409, "invoice_not_listed")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/cancel", t.seller), 409, "invoice_not_listed")
    assert await ledger_state(client, t.investor, t.seller) == before


async def test_cancelling_a_funded_invoice_is_409_invoice_not_listed(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t)
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    await refused(await post(client, f"/api/invoices/{invoice['id']}/cancel", t.seller), 409, "invoice_not_listed")
    body = await (await client.get(f"/api/invoices/{invoice['id']}", headers=t.seller.headers)).get_json()
    assert body["invoice"]["status"] == "funded"


async def test_repaying_a_listed_cancelled_or_repaid_invoice_is_409_not_repayable(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    await deposit(client, t.buyer, 2_000_000)
    listed_invoice, cancelled, repaid = await listed(client, t), await listed(client, t), await listed(client, t)
    assert (await post(client, f"/api/invoices/{cancelled['id']}/cancel", t.seller)).status_code == 200
    assert (await fund(client, t.investor, repaid["id"], 450_000)).status_code == 200
    assert (await post(client, f"/api/invoices/{repaid['id']}/repay", t.buyer)).status_code == 200
    before = await ledger_state(client, t.buyer, t.investor)
    for invoice in (listed_invoice, cancelled, repaid):
        response = await post(client, f"/api/invoices/{invoice['id']}/repay", t.buyer)
        await refused(response, 409, "invoice_not_repayable")
    assert await ledger_state(client, t.buyer, t.investor) == before


async def test_insufficient_funds_on_fund_withdraw_and_repay_moves_nothing(client: Client) -> None:
    t = await trio(client, investor_money=449_999)
    await deposit(client, t.buyer, 499_999)
    invoice = await listed(client, t)
    before = await ledger_state(client, t.seller, t.investor, t.buyer)
    await refused(await fund(client, t.investor, invoice["id"], 450_000), 409, "insufficient_funds")
    await refused(await post(client, "/api/wallet/withdraw", t.investor, {"amount": 450_000}), 409,
                  "insufficient_funds")
    await refused(await post(client, "/api/wallet/withdraw", t.seller, {"amount": 1}), 409, "insufficient_funds")
    assert await ledger_state(client, t.seller, t.investor, t.buyer) == before

    await deposit(client, t.investor, 1)
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    before = await ledger_state(client, t.seller, t.investor, t.buyer)
    await refused(await post(client, f"/api/invoices/{invoice['id']}/repay", t.buyer), 409, "insufficient_funds")
    assert await ledger_state(client, t.seller, t.investor, t.buyer) == before


async def test_deposit_above_the_balance_limit_is_409_and_moves_nothing(client: Client) -> None:
    investor = await register(client, "investor")
    await deposit(client, investor, 10**15 - 5)
    before = await ledger_state(client, investor)
    for amount in (6, 10**15):
        response = await post(client, "/api/wallet/deposit", investor, {"amount": amount})
        await refused(response, 409, "balance_limit_exceeded")
    assert await ledger_state(client, investor) == before


async def test_funding_past_the_due_date_is_409_invoice_past_due(client: Client, clock: FixedClock) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000, due_days=1,
                                   now_ms=START_MS)
    clock.advance(24 * 3600 * 1000)  # due now: no longer financeable, even before the aging task runs
    before = await ledger_state(client, t.investor, t.seller)
    await refused(await fund(client, t.investor, invoice["id"], 450_000), 409, "invoice_past_due")
    assert await ledger_state(client, t.investor, t.seller) == before


async def test_funding_that_would_take_the_seller_above_the_limit_is_409(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    await deposit(client, t.seller, 10**15 - 449_999)
    invoice = await listed(client, t)
    before = await ledger_state(client, t.investor, t.seller)
    await refused(await fund(client, t.investor, invoice["id"], 450_000), 409, "balance_limit_exceeded")
    assert await ledger_state(client, t.investor, t.seller) == before


async def test_repaying_that_would_take_the_investor_above_the_limit_is_409(client: Client) -> None:
    t = await trio(client, investor_money=10**15)
    invoice = await listed(client, t)
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    await deposit(client, t.investor, 450_000)
    await deposit(client, t.buyer, 500_000)
    before = await ledger_state(client, t.investor, t.buyer)
    await refused(await post(client, f"/api/invoices/{invoice['id']}/repay", t.buyer), 409, "balance_limit_exceeded")
    assert await ledger_state(client, t.investor, t.buyer) == before
