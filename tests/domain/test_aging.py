"""The periodic aging task: overdue after the due date, defaulted after the grace, listed ones expire."""

from __future__ import annotations

import asyncio

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock
from finance.market import Market
from finance.marketplace import aging
from tests.conftest import Backend
from tests.helpers.api import DAY_MS, create_invoice, deposit, error_code, fund, trio

START_MS = 1_900_000_000_000  # 2030-03-17


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


def aged(overdue: int = 0, defaulted: int = 0, expired: int = 0) -> dict[str, int]:
    return {"overdue": overdue, "defaulted": defaulted, "expired": expired, "unfilled": 0, "unaccepted": 0,
            "bidsExpired": 0}


async def status(client: Client, actor_headers: dict[str, str], invoice_id: str) -> str:
    body = await (await client.get(f"/api/invoices/{invoice_id}", headers=actor_headers)).get_json()
    value: str = body["invoice"]["status"]
    return value


async def test_funded_invoice_turns_overdue_then_defaulted(client: Client, market: Market, clock: FixedClock) -> None:
    t = await trio(client)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=100_000, due_days=10, now_ms=START_MS)
    assert (await fund(client, t.investor, invoice["id"], 95_000)).status_code == 200

    clock.advance(10 * DAY_MS)  # due today: repaying "on the due date" is on time
    assert await aging.age_once(market) == aged(overdue=0, defaulted=0, expired=0)
    clock.advance(1)
    assert await aging.age_once(market) == aged(overdue=1, defaulted=0, expired=0)
    assert await status(client, t.seller.headers, invoice["id"]) == "overdue"

    clock.advance(market.settings.default_grace_days * DAY_MS)
    assert await aging.age_once(market) == aged(overdue=0, defaulted=1, expired=0)
    assert await status(client, t.investor.headers, invoice["id"]) == "defaulted"
    portfolio = await (await client.get("/api/users/portfolio", headers=t.investor.headers)).get_json()
    assert portfolio["investments"][0]["status"] == "defaulted"
    dashboard = await (await client.get("/api/users/dashboard", headers=t.investor.headers)).get_json()
    assert dashboard["stats"]["activeCount"] == 0
    assert dashboard["stats"]["defaultedAmount"] == 95_000
    # nothing is expected of a defaulted investment any more
    assert dashboard["stats"]["expectedProfit"] == 0
    assert portfolio["totals"]["expectedReturn"] == 0
    assert portfolio["totals"]["profit"] == 0
    assert portfolio["totals"]["defaulted"] == 95_000
    buyer = await (await client.get("/api/users/dashboard", headers=t.buyer.headers)).get_json()
    assert buyer["stats"]["outstandingAmount"] == 0
    assert buyer["stats"]["defaultedAmount"] == 100_000


async def test_overdue_invoice_can_still_be_repaid(client: Client, market: Market, clock: FixedClock) -> None:
    t = await trio(client)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=100_000, due_days=5, now_ms=START_MS)
    await fund(client, t.investor, invoice["id"], 90_000)
    clock.advance(6 * DAY_MS)
    await aging.age_once(market)
    await deposit(client, t.buyer, 100_000)
    response = await client.post(f"/api/invoices/{invoice['id']}/repay", headers=t.buyer.headers)
    assert response.status_code == 200
    assert (await response.get_json())["invoice"]["status"] == "repaid"
    assert await market.redis.zcard(market.keys.overdue_by_due()) == 0


async def test_listed_invoice_past_due_cannot_be_funded_and_expires(
    client: Client, market: Market, clock: FixedClock
) -> None:
    t = await trio(client)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=100_000, due_days=3, now_ms=START_MS)
    clock.advance(3 * DAY_MS)
    response = await fund(client, t.investor, invoice["id"], 95_000)
    assert (response.status_code, await error_code(response)) == (409, "invoice_past_due")
    assert await aging.age_once(market) == aged(overdue=0, defaulted=0, expired=1)
    assert await status(client, t.seller.headers, invoice["id"]) == "cancelled"
    listed = await (await client.get("/api/invoices/marketplace", headers=t.investor.headers)).get_json()
    assert listed["invoices"] == []


async def test_aging_clears_a_backlog_larger_than_one_batch(
    client: Client, market: Market, clock: FixedClock
) -> None:
    t = await trio(client, investor_money=0)
    for _ in range(3):
        await create_invoice(client, t.seller, t.buyer, amount=1_000, due_days=1, now_ms=START_MS)
    clock.advance(2 * DAY_MS)
    replies = [await market.scripts.age_invoices(now=clock.now(), batch_max=2) for _ in range(2)]
    assert [(r.data()["expired"], r.data()["more"]) for r in replies] == [(2, True), (1, False)]


async def test_server_runs_the_aging_task_on_its_interval(real_backend: Backend) -> None:
    clock = FixedClock(START_MS)
    app = real_backend.app(clock, aging_interval_seconds=1)
    async with app.test_app():
        client = app.test_client()
        t = await trio(client)
        invoice = await create_invoice(client, t.seller, t.buyer, amount=100_000, due_days=1, now_ms=START_MS)
        await fund(client, t.investor, invoice["id"], 95_000)
        clock.advance(2 * DAY_MS)
        for _ in range(50):
            if await status(client, t.seller.headers, invoice["id"]) == "overdue":
                break
            await asyncio.sleep(0.1)
        assert await status(client, t.seller.headers, invoice["id"]) == "overdue"
