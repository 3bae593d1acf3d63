"""Investor exposure limits (DESIGN 9.6): the most an investor may have outstanding on one buyer: claims
funded and not yet repaid plus pending bids (each at the face value it claims), checked atomically in
fund and bid; the exposure falls as repayments arrive and as bids are refunded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.market import Market
from tests.conftest import Backend
from tests.helpers.api import (
    Actor,
    Trio,
    balance,
    create_invoice,
    deposit,
    fund,
    get_json,
    post,
    refused,
    register,
    trio,
)

FACE, ASK = 100_000, 90_000


async def put_limit(client: Client, investor: Actor, buyer_id: str, amount: int) -> Any:
    return await client.put(f"/api/users/limits/{buyer_id}", json={"amount": amount}, headers=investor.headers)


async def invoice(client: Client, t: Trio) -> str:
    return str((await create_invoice(client, t.seller, t.buyer, amount=FACE, ask_amount=ASK))["id"])


async def exposure(client: Client, investor: Actor, buyer_id: str) -> int:
    rows = (await get_json(client, "/api/users/limits", investor))["limits"]
    return int(next(row["exposure"] for row in rows if row["buyerId"] == buyer_id))


async def test_a_limit_is_set_listed_replaced_and_removed(client: Client) -> None:
    t = await trio(client)
    answer = await put_limit(client, t.investor, t.buyer.id, 250_000)
    assert answer.status_code == 200
    assert (await answer.get_json())["limit"] == {"buyerId": t.buyer.id, "buyer": "Buyer Corp", "amount": 250_000,
                                                  "exposure": 0}
    await put_limit(client, t.investor, t.buyer.id, 300_000)
    listed = await get_json(client, "/api/users/limits", t.investor)
    assert [(row["buyerId"], row["amount"]) for row in listed["limits"]] == [(t.buyer.id, 300_000)]
    await refused(await put_limit(client, t.investor, t.seller.id, 1), 422, "invalid_buyer")
    await refused(await put_limit(client, t.investor, "usr_00000000000000000000", 1), 422, "invalid_buyer")
    await refused(await put_limit(client, t.investor, "someone", 1), 422, "invalid_buyer")
    await refused(await put_limit(client, t.investor, t.buyer.id, 0), 422, "invalid_amount")
    await refused(await put_limit(client, t.seller, t.buyer.id, 1), 403, "forbidden")
    removed = await client.delete(f"/api/users/limits/{t.buyer.id}", headers=t.investor.headers)
    assert removed.status_code == 204
    await refused(await client.delete(f"/api/users/limits/{t.buyer.id}", headers=t.investor.headers), 404,
                  "limit_not_found")
    await refused(await client.delete("/api/users/limits/null,null", headers=t.investor.headers), 404,
                  "limit_not_found")
    assert (await get_json(client, "/api/users/limits", t.investor))["limits"] == []


async def test_funding_past_the_limit_is_refused_and_repayment_makes_room(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=1_000_000)
    await deposit(client, t.buyer, 1_000_000)
    await put_limit(client, t.investor, t.buyer.id, 2 * FACE)
    first, second, third = [await invoice(client, t) for _ in range(3)]
    assert (await fund(client, t.investor, first, ASK)).status_code == 200
    assert (await fund(client, t.investor, second, FACE)).status_code == 200
    assert await exposure(client, t.investor, t.buyer.id) == 2 * FACE
    before = await balance(client, t.investor)
    await refused(await fund(client, t.investor, third, ASK), 409, "exposure_limit_exceeded")
    assert await balance(client, t.investor) == before
    other_buyer = await register(client, "buyer")
    elsewhere = await create_invoice(client, t.seller, other_buyer, amount=FACE, ask_amount=ASK)
    assert (await fund(client, t.investor, elsewhere["id"], ASK)).status_code == 200  # another buyer's
    assert (await post(client, f"/api/invoices/{first}/repay", t.buyer)).status_code == 200
    assert await exposure(client, t.investor, t.buyer.id) == FACE
    assert (await fund(client, t.investor, third, ASK)).status_code == 200
    assert (await ledger.check(market)).ok


async def test_a_pending_bid_counts_at_face_value_until_refunded(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    await put_limit(client, t.investor, t.buyer.id, FACE)
    first, second = await invoice(client, t), await invoice(client, t)
    bid = await post(client, f"/api/invoices/{first}/bids", t.investor, {"amount": ASK})
    assert bid.status_code == 200
    assert await exposure(client, t.investor, t.buyer.id) == FACE
    assert (await post(client, f"/api/invoices/{first}/bids", t.investor, {"amount": FACE})).status_code == 200
    await refused(await post(client, f"/api/invoices/{second}/bids", t.investor, {"amount": ASK}), 409,
                  "exposure_limit_exceeded")
    await refused(await fund(client, t.investor, second, ASK), 409, "exposure_limit_exceeded")
    assert (await fund(client, t.investor, first, ASK)).status_code == 200  # buying what the bid claimed
    assert await exposure(client, t.investor, t.buyer.id) == FACE
    other = await invoice(client, t)
    await client.delete(f"/api/users/limits/{t.buyer.id}", headers=t.investor.headers)
    await post(client, f"/api/invoices/{other}/bids", t.investor, {"amount": ASK})
    await put_limit(client, t.investor, t.buyer.id, 5 * FACE)
    assert await exposure(client, t.investor, t.buyer.id) == 2 * FACE
    await client.delete(f"/api/invoices/{other}/bids/mine", headers=t.investor.headers)
    assert await exposure(client, t.investor, t.buyer.id) == FACE


async def test_accepted_and_refunded_bids_leave_each_bidder_the_right_exposure(client: Client) -> None:
    t = await trio(client)
    invoice_id = await invoice(client, t)
    a, b = await register(client, "investor"), await register(client, "investor")
    for investor in (a, b):
        await deposit(client, investor, 500_000)
        await put_limit(client, investor, t.buyer.id, 10 * FACE)
        await post(client, f"/api/invoices/{invoice_id}/bids", investor, {"amount": ASK})
    bids = (await get_json(client, f"/api/invoices/{invoice_id}/bids", t.seller))["bids"]
    winner = next(row for row in bids if row["investorId"] == a.id)
    assert (await post(client, f"/api/invoices/{invoice_id}/bids/{winner['id']}/accept", t.seller)).status_code == 200
    assert (await exposure(client, a, t.buyer.id), await exposure(client, b, t.buyer.id)) == (FACE, 0)


@pytest.mark.real_redis
async def test_concurrent_funding_never_passes_the_limit(real_backend: Backend) -> None:
    application = real_backend.app()
    async with application.test_app():
        client = application.test_client()
        market: Market = application.extensions["market"]
        t = await trio(client, investor_money=5_000_000)
        await put_limit(client, t.investor, t.buyer.id, 3 * FACE)
        invoices = [await invoice(client, t) for _ in range(12)]
        answers = await asyncio.gather(*(fund(client, t.investor, invoice_id, ASK) for invoice_id in invoices))
        assert sorted(answer.status_code for answer in answers) == [200] * 3 + [409] * 9
        for answer in answers:
            if answer.status_code == 409:
                assert (await answer.get_json())["error"]["code"] == "exposure_limit_exceeded"
        assert await exposure(client, t.investor, t.buyer.id) == 3 * FACE
        assert await balance(client, t.investor) == 5_000_000 - 3 * ASK
        assert (await ledger.check(market)).ok
