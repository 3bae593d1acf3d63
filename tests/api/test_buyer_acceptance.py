"""Buyer acceptance (BUYER_ACCEPTANCE=required, DESIGN 9.1): a created invoice waits for its buyer, who
accepts it (listed at once, irrevocable) or rejects it with a reason; not answered by acceptBy (the
window, or the due date if sooner) it expires. With acceptance off, nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.clock import FixedClock, iso_from_ms
from finance.market import Market
from finance.marketplace import aging
from tests.conftest import Backend
from tests.helpers.api import (
    DAY_MS,
    START_MS,
    Trio,
    create_invoice,
    fund,
    get_json,
    post,
    refused,
    register,
    trio,
)

HOUR_MS = 3_600_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


@pytest.fixture
async def app(backend: Backend, clock: FixedClock) -> AsyncIterator[Quart]:
    application = backend.app(clock, buyer_acceptance="required", acceptance_window_hours=72)
    async with application.test_app():
        yield application


async def pending(client: Client, t: Trio, due_days: int = 30, number: str | None = None) -> dict[str, Any]:
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000,
                                   due_days=due_days, now_ms=START_MS, number=number)
    assert invoice["status"] == "pending_acceptance"
    return invoice


async def stream(market: Market, key: str) -> list[tuple[str, str]]:
    return [(fields["event"], fields["data"]) for _, fields in await market.redis.xrange(key)]


async def test_a_new_invoice_waits_for_its_buyer_unseen_by_the_market(client: Client, market: Market) -> None:
    t = await trio(client)
    invoice = await pending(client, t)
    assert invoice["acceptBy"] == iso_from_ms(START_MS + 72 * HOUR_MS)
    assert (invoice["acceptedAt"], invoice["rejectionReason"]) == (None, None)
    assert (await get_json(client, "/api/invoices/marketplace", t.investor))["invoices"] == []
    await refused(await fund(client, t.investor, invoice["id"], 450_000), 409, "invoice_not_listed")
    await refused(await client.get(f"/api/invoices/{invoice['id']}", headers=t.investor.headers), 404,
                  "invoice_not_found")
    mine = await get_json(client, "/api/invoices/buyer?status=pending_acceptance", t.buyer)
    assert [row["id"] for row in mine["invoices"]] == [invoice["id"]]
    assert (await get_json(client, "/api/invoices/buyer?status=listed", t.buyer))["invoices"] == []
    assert [event for event, _ in await stream(market, market.keys.market_stream())] == []
    requested = await stream(market, market.keys.user_stream(t.buyer.id))
    assert [event for event, _ in requested] == ["acceptanceRequested"]
    assert f'"acceptBy":"{invoice["acceptBy"]}"' in requested[0][1]


async def test_the_due_date_bounds_the_acceptance_window(client: Client) -> None:
    t = await trio(client)
    invoice = await pending(client, t, due_days=2)
    assert invoice["acceptBy"] == invoice["dueDate"] == iso_from_ms(START_MS + 2 * DAY_MS)


async def test_accepted_it_is_listed_and_can_be_funded(client: Client, market: Market) -> None:
    t = await trio(client)
    invoice = await pending(client, t)
    answer = await post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer)
    assert answer.status_code == 200
    accepted = (await answer.get_json())["invoice"]
    assert (accepted["status"], accepted["acceptedAt"]) == ("listed", iso_from_ms(START_MS))
    market_page = await get_json(client, "/api/invoices/marketplace", t.investor)
    assert [row["id"] for row in market_page["invoices"]] == [invoice["id"]]
    assert [event for event, _ in await stream(market, market.keys.market_stream())] == ["newInvoiceListed"]
    for party in (t.seller, t.buyer):
        events = [event for event, _ in await stream(market, market.keys.user_stream(party.id))]
        assert events[-1] == "invoiceAccepted"
    await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer), 409,
                  "invoice_not_pending_acceptance")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/reject", t.buyer, {"reason": "late"}), 409,
                  "invoice_not_pending_acceptance")
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    assert (await ledger.check(market)).ok


async def test_rejected_with_a_reason_it_is_never_listed_and_its_number_is_free(client: Client,
                                                                               market: Market) -> None:
    t = await trio(client)
    invoice = await pending(client, t, number="INV-R1")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/reject", t.buyer, {"reason": "  "}), 422,
                  "invalid_field")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/reject", t.buyer, {}), 400, "invalid_request")
    answer = await post(client, f"/api/invoices/{invoice['id']}/reject", t.buyer, {"reason": " not our order "})
    rejected = (await answer.get_json())["invoice"]
    assert (rejected["status"], rejected["rejectionReason"]) == ("rejected", "not our order")
    events = await stream(market, market.keys.user_stream(t.seller.id))
    assert events[-1][0] == "invoiceRejected" and '"reason":"not our order"' in events[-1][1]
    await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer), 409,
                  "invoice_not_pending_acceptance")
    again = await pending(client, t, number="INV-R1")  # the seller may send it again, corrected
    assert again["id"] != invoice["id"]
    dashboard = await get_json(client, "/api/users/dashboard", t.buyer)
    assert dashboard["stats"]["outstandingAmount"] == 500_000  # the rejected one owes nothing
    assert (await ledger.check(market)).ok


async def test_only_the_invoices_buyer_may_answer(client: Client) -> None:
    t = await trio(client)
    invoice = await pending(client, t)
    other_buyer = await register(client, "buyer")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", other_buyer), 404, "invoice_not_found")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/reject", other_buyer, {"reason": "x"}), 404,
                  "invoice_not_found")
    for who in (t.seller, t.investor):
        await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", who), 403, "forbidden")
    await refused(await post(client, "/api/invoices/inv_00000000000000000000/accept", t.buyer), 404,
                  "invoice_not_found")


async def test_not_answered_in_time_it_expires(client: Client, market: Market, clock: FixedClock) -> None:
    t = await trio(client)
    invoice = await pending(client, t)
    clock.advance(72 * HOUR_MS)
    await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer), 409,
                  "acceptance_window_closed")
    await refused(await post(client, f"/api/invoices/{invoice['id']}/reject", t.buyer, {"reason": "x"}), 409,
                  "acceptance_window_closed")
    assert (await aging.age_once(market))["unaccepted"] == 1
    read = await get_json(client, f"/api/invoices/{invoice['id']}", t.seller)
    assert read["invoice"]["status"] == "expired"
    for party in (t.seller, t.buyer):
        assert (await stream(market, market.keys.user_stream(party.id)))[-1][0] == "invoiceExpired"
    assert (await aging.age_once(market))["unaccepted"] == 0
    await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer), 409,
                  "invoice_not_pending_acceptance")
    assert (await ledger.check(market)).ok


async def test_an_accept_replays_under_its_idempotency_key(client: Client, market: Market) -> None:
    t = await trio(client)
    invoice = await pending(client, t)
    headers = {**t.buyer.headers, "Idempotency-Key": "accept-1"}
    first = await client.post(f"/api/invoices/{invoice['id']}/accept", headers=headers)
    again = await client.post(f"/api/invoices/{invoice['id']}/accept", headers=headers)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (200, "true")
    assert await again.get_data() == await first.get_data()
    assert [event for event, _ in await stream(market, market.keys.market_stream())] == ["newInvoiceListed"]


@pytest.mark.real_redis
async def test_racing_answers_have_exactly_one_winner(real_backend: Backend, clock: FixedClock) -> None:
    application = real_backend.app(clock, buyer_acceptance="required")
    async with application.test_app():
        client = application.test_client()
        market: Market = application.extensions["market"]
        t = await trio(client)
        for _ in range(5):
            invoice = await pending(client, t)
            calls = [post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer) if i % 2 else
                     post(client, f"/api/invoices/{invoice['id']}/reject", t.buyer, {"reason": f"r{i}"})
                     for i in range(20)]
            answers = await asyncio.gather(*calls)
            assert sorted(answer.status_code for answer in answers) == [200] + [409] * 19
            read = (await get_json(client, f"/api/invoices/{invoice['id']}", t.seller))["invoice"]
            decided = [event for event, data in await stream(market, market.keys.user_stream(t.seller.id))
                       if event in ("invoiceAccepted", "invoiceRejected") and invoice["id"] in data]
            assert decided == [{"listed": "invoiceAccepted", "rejected": "invoiceRejected"}[read["status"]]]
        report = await ledger.check(market)
        assert report.ok, report.problems


async def test_with_acceptance_off_invoices_list_at_once_and_accept_is_refused(backend: Backend,
                                                                              clock: FixedClock) -> None:
    application = backend.app(clock)
    async with application.test_app():
        client = application.test_client()
        t = await trio(client)
        invoice = await create_invoice(client, t.seller, t.buyer, now_ms=START_MS)
        assert (invoice["status"], invoice["acceptBy"]) == ("listed", None)
        await refused(await post(client, f"/api/invoices/{invoice['id']}/accept", t.buyer), 409,
                      "invoice_not_pending_acceptance")


