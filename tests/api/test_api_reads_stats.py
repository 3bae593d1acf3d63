"""Dashboard (role-specific counters, a 30-day daily series) and portfolio (investments with their
invoice and totals), with exact figures after funding, repaying and cancelling. Time is pinned.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock, day_from_ms
from tests.helpers.api import DAY_MS, START_MS, Trio, deposit, get_json, listed_invoice, post_json, register, trio


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


async def repaid_and_cancelled(client: Client) -> tuple[Trio, dict[str, Any]]:
    """A seller lists two invoices for one buyer: 500,000 funded at 470,000 and repaid; 200,000 cancelled."""
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    cancelled = await listed_invoice(client, t.seller, t.buyer, amount=200_000, ask_amount=150_000)
    await post_json(client, f"/api/invoices/{cancelled['id']}/cancel", t.seller)
    await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor, {"amount": 470_000})
    await deposit(client, t.buyer, 600_000)
    await post_json(client, f"/api/invoices/{invoice['id']}/repay", t.buyer)
    return t, invoice


def series_days() -> list[str]:
    today = date.fromisoformat(day_from_ms(START_MS))
    return [(today - timedelta(days=back)).isoformat() for back in range(29, -1, -1)]


async def test_dashboard_stats_and_daily_series_per_role(client: Client) -> None:
    t, _ = await repaid_and_cancelled(client)
    expected = [
        (t.seller, {"listedCount": 2, "listedAmount": 700_000, "fundedCount": 1, "raisedAmount": 470_000,
                    "repaidCount": 1, "cancelledCount": 1, "cancelledAmount": 200_000},
                   {"listed": 700_000, "raised": 470_000}, 470_000),
        (t.investor, {"investmentCount": 1, "investedAmount": 470_000, "expectedReturn": 500_000,
                      "expectedProfit": 30_000, "activeCount": 0, "activeAmount": 0, "settledCount": 1,
                      "settledAmount": 470_000,
                      "realizedReturn": 500_000, "realizedProfit": 30_000, "defaultedCount": 0, "defaultedAmount": 0,
                      "defaultedReturn": 0, "recoveredCount": 0, "recoveredAmount": 0, "reservedCount": 0,
                      "reservedAmount": 0},
                     {"invested": 470_000, "returned": 500_000}, 1_030_000),
        (t.buyer, {"invoiceCount": 2, "invoiceAmount": 700_000, "repaidCount": 1, "repaidAmount": 500_000,
                   "cancelledCount": 1, "cancelledAmount": 200_000, "defaultedCount": 0, "defaultedAmount": 0,
                   "recoveredAmount": 0, "outstandingAmount": 0},
                  {"repaid": 500_000}, 100_000),
    ]
    days = series_days()
    for actor, stats, today, wallet in expected:
        data = await get_json(client, "/api/users/dashboard", actor)
        assert data["role"] == actor.role
        assert data["stats"] == stats
        assert data["wallet"] == {"balance": wallet, "currency": "INR"}
        assert [point["date"] for point in data["series"]] == days
        zero = dict.fromkeys(today, 0)
        assert data["series"][:-1] == [{"date": day, **zero} for day in days[:-1]]
        assert data["series"][-1] == {"date": days[-1], **today}


async def test_dashboard_of_a_new_user_is_all_zeros(client: Client) -> None:
    seller = await register(client, "seller")
    data = await get_json(client, "/api/users/dashboard", seller)
    assert set(data) == {"role", "stats", "wallet", "series"}
    assert set(data["stats"].values()) == {0}
    assert len(data["series"]) == 30 and data["series"][-1] == {"date": series_days()[-1], "listed": 0, "raised": 0}


async def test_portfolio_lists_investments_with_their_invoice_and_exact_totals(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    funded = await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor, {"amount": 470_000})

    data = await get_json(client, "/api/users/portfolio", t.investor)
    assert data == {"investments": [{**funded["investment"], "invoice": funded["invoice"]}], "nextCursor": None,
                    "totals": {"invested": 470_000, "expectedReturn": 500_000, "profit": 30_000, "realized": 0,
                               "realizedProfit": 0, "active": 470_000, "reserved": 0, "count": 1, "defaulted": 0}}

    await deposit(client, t.buyer, 500_000)
    repaid = await post_json(client, f"/api/invoices/{invoice['id']}/repay", t.buyer)
    data = await get_json(client, "/api/users/portfolio", t.investor)
    assert data["investments"] == [{**repaid["investment"], "invoice": repaid["invoice"]}]
    assert data["totals"] == {"invested": 470_000, "expectedReturn": 500_000, "profit": 30_000,
                              "realized": 500_000, "realizedProfit": 30_000, "active": 0, "reserved": 0, "count": 1,
                              "defaulted": 0}


async def test_daily_series_puts_each_amount_on_its_own_day(client: Client, clock: FixedClock) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000, due_days=60)
    clock.advance(2 * DAY_MS)
    await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor, {"amount": 460_000})
    today = date.fromisoformat(day_from_ms(START_MS + 2 * DAY_MS))
    series = (await get_json(client, "/api/users/dashboard", t.seller))["series"]
    assert len(series) == 30
    assert series[-1] == {"date": today.isoformat(), "listed": 0, "raised": 460_000}
    assert series[-2] == {"date": (today - timedelta(days=1)).isoformat(), "listed": 0, "raised": 0}
    assert series[-3] == {"date": (today - timedelta(days=2)).isoformat(), "listed": 500_000, "raised": 0}
    clock.advance(29 * DAY_MS)  # the listing day has left the 30-day window
    series = (await get_json(client, "/api/users/dashboard", t.seller))["series"]
    assert sum(point["listed"] for point in series) == 0
    assert series[0] == {"date": today.isoformat(), "listed": 0, "raised": 460_000}


async def test_portfolio_pages_cover_every_investment_exactly_once(client: Client) -> None:
    t = await trio(client, investor_money=10_000_000)
    funded = []
    for _ in range(5):  # all in the same millisecond: ties in the index
        invoice = await listed_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
        funded.append((await post_json(client, f"/api/invoices/{invoice['id']}/fund", t.investor,
                                       {"amount": 450_000}))["investment"]["id"])
    seen: list[str] = []
    path = "/api/users/portfolio?limit=2"
    for _ in range(10):
        page = await get_json(client, path, t.investor)
        assert len(page["investments"]) <= 2
        assert page["totals"]["count"] == 5 and page["totals"]["invested"] == 5 * 450_000
        seen += [row["id"] for row in page["investments"]]
        if page["nextCursor"] is None:
            break
        path = f"/api/users/portfolio?limit=2&cursor={page['nextCursor']}"
    assert sorted(seen) == sorted(funded) and len(seen) == 5
