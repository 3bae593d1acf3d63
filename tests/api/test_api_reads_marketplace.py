"""The marketplace: each filter filters, each sort orders exactly, and cursor pages visit every listed
invoice exactly once, ties included. Funded and cancelled invoices are not listed.

Time is pinned: invoices created without advancing the clock share a createdAt (ties for sort=newest).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock, iso_from_ms
from tests.helpers.api import DAY_MS, Actor, create_invoice, fund, register, trio

START_MS = 1_900_000_000_000
SORTS = ["newest", "amount", "dueDate"]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


async def market_page(client: Client, actor: Actor, **query: Any) -> dict[str, Any]:
    response = await client.get(f"/api/invoices/marketplace?{urlencode(query)}", headers=actor.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    page: dict[str, Any] = await response.get_json()
    return page


async def every_page(client: Client, actor: Actor, **query: Any) -> list[dict[str, Any]]:
    """All invoices, following nextCursor until it is null."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await market_page(client, actor, **query, **({"cursor": cursor} if cursor else {}))
        assert len(page["invoices"]) <= int(query.get("limit", 20))
        rows += page["invoices"]
        cursor = page["nextCursor"]
        if cursor is None:
            return rows
    raise AssertionError("pagination did not end")


async def test_default_sort_is_newest_first(client: Client, clock: FixedClock) -> None:
    t = await trio(client)
    created = []
    for amount in (300_000, 100_000, 400_000):
        created.append(await create_invoice(client, t.seller, t.buyer, amount=amount, now_ms=START_MS))
        clock.advance(1_000)
    page = await market_page(client, t.investor)
    assert page == {"invoices": created[::-1], "nextCursor": None}


async def test_each_sort_orders_exactly(client: Client, clock: FixedClock) -> None:
    t = await trio(client)
    # created in this order; amounts and due dates in other orders
    plan = [(300_000, 20), (100_000, 40), (400_000, 10), (200_000, 30)]
    created = []
    for amount, due_days in plan:
        created.append(await create_invoice(client, t.seller, t.buyer, amount=amount, due_days=due_days,
                                            now_ms=START_MS))
        clock.advance(1_000)
    x1, x2, x3, x4 = (row["id"] for row in created)
    expected = {"newest": [x4, x3, x2, x1], "amount": [x2, x4, x1, x3], "dueDate": [x3, x1, x4, x2]}
    for sort, ids in expected.items():
        page = await market_page(client, t.investor, sort=sort)
        assert [row["id"] for row in page["invoices"]] == ids, sort
        assert page["nextCursor"] is None


async def four_invoices(client: Client) -> tuple[dict[str, Actor], dict[str, str]]:
    """A: seller1->buyer1 1,000.00 due +10d; B: seller1->buyer2 2,000.00 +20d;
    C: seller2->buyer1 3,000.00 +30d; D: seller2->buyer2 4,000.00 +40d."""
    actors = {name: await register(client, name[:-1]) for name in ("seller1", "seller2", "buyer1", "buyer2")}
    actors["investor"] = await register(client, "investor")
    ids = {}
    for name, seller, buyer, amount, due_days in [("A", "seller1", "buyer1", 100_000, 10),
                                                  ("B", "seller1", "buyer2", 200_000, 20),
                                                  ("C", "seller2", "buyer1", 300_000, 30),
                                                  ("D", "seller2", "buyer2", 400_000, 40)]:
        invoice = await create_invoice(client, actors[seller], actors[buyer], amount=amount, due_days=due_days,
                                       now_ms=START_MS)
        ids[name] = invoice["id"]
    return actors, ids


@pytest.mark.parametrize("sort", SORTS)
async def test_each_filter_filters_in_every_sort(client: Client, sort: str) -> None:
    actors, ids = await four_invoices(client)
    due = {days: iso_from_ms(START_MS + days * DAY_MS) for days in (20, 30)}
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "ABCD"),
        ({"minAmount": 200_000}, "BCD"),
        ({"minAmount": 200_001}, "CD"),
        ({"maxAmount": 300_000}, "ABC"),
        ({"maxAmount": 299_999}, "AB"),
        ({"minAmount": 200_000, "maxAmount": 300_000}, "BC"),
        ({"dueAfter": due[20]}, "BCD"),
        ({"dueBefore": due[30]}, "ABC"),
        ({"dueAfter": due[20], "dueBefore": due[30]}, "BC"),
        ({"sellerId": actors["seller1"].id}, "AB"),
        ({"buyerId": actors["buyer2"].id}, "BD"),
        ({"sellerId": actors["seller2"].id, "buyerId": actors["buyer1"].id}, "C"),
        ({"sellerId": actors["investor"].id}, ""),
        ({"minAmount": 500_000}, ""),
    ]
    for query, names in cases:
        page = await market_page(client, actors["investor"], sort=sort, **query)
        assert sorted(row["id"] for row in page["invoices"]) == sorted(ids[n] for n in names), query
        assert page["nextCursor"] is None, query


async def ties(client: Client) -> tuple[Actor, list[str]]:
    """Ten invoices created in the same millisecond, amounts and due dates in three tied groups."""
    t = await trio(client)
    plan = [(100_000, 10)] * 5 + [(200_000, 20)] * 3 + [(50_000, 30)] * 2
    ids = [(await create_invoice(client, t.seller, t.buyer, amount=a, due_days=d, now_ms=START_MS))["id"]
           for a, d in plan]
    return t.investor, ids


@pytest.mark.parametrize("limit", [1, 3, 4, 10])
@pytest.mark.parametrize("sort", SORTS)
async def test_pages_visit_every_listed_invoice_exactly_once_despite_ties(client: Client, sort: str,
                                                                          limit: int) -> None:
    investor, ids = await ties(client)
    whole = (await market_page(client, investor, sort=sort, limit=100))["invoices"]
    rows = await every_page(client, investor, sort=sort, limit=limit)
    visited = [row["id"] for row in rows]
    assert len(visited) == len(set(visited)) == len(ids)
    assert set(visited) == set(ids)
    assert visited == [row["id"] for row in whole]
    if sort != "newest":
        values = [row["amount" if sort == "amount" else "dueDate"] for row in rows]
        assert values == sorted(values)


@pytest.mark.parametrize("sort", SORTS)
async def test_filtered_pages_visit_every_match_exactly_once(client: Client, sort: str) -> None:
    t = await trio(client)
    other_seller = await register(client, "seller")
    mine: list[str] = []
    for n in range(12):
        seller = t.seller if n % 3 else other_seller
        invoice = await create_invoice(client, seller, t.buyer, amount=100_000 + (n % 2) * 1_000, now_ms=START_MS)
        if seller is t.seller:
            mine.append(invoice["id"])
    rows = await every_page(client, t.investor, sort=sort, limit=2, sellerId=t.seller.id)
    visited = [row["id"] for row in rows]
    assert len(visited) == len(set(visited))
    assert set(visited) == set(mine)


async def test_funded_and_cancelled_invoices_are_not_listed(client: Client) -> None:
    t = await trio(client)
    funded = await create_invoice(client, t.seller, t.buyer, amount=100_000, ask_amount=90_000, now_ms=START_MS)
    cancelled = await create_invoice(client, t.seller, t.buyer, amount=200_000, now_ms=START_MS)
    listed = await create_invoice(client, t.seller, t.buyer, amount=300_000, now_ms=START_MS)
    assert (await fund(client, t.investor, funded["id"], 95_000)).status_code == 200
    response = await client.post(f"/api/invoices/{cancelled['id']}/cancel", headers=t.seller.headers)
    assert response.status_code == 200
    for sort in SORTS:
        page = await market_page(client, t.investor, sort=sort)
        assert page == {"invoices": [listed], "nextCursor": None}
        page = await market_page(client, t.investor, sort=sort, minAmount=1, maxAmount=10**15)
        assert [row["id"] for row in page["invoices"]] == [listed["id"]]
