"""Idempotency-Key on every money-moving POST (DESIGN section 4): scoped to (user, method, path).

Same key and same body: the first status and the identical JSON body, Idempotent-Replayed: true, and
nothing moved. Same key, different body: 422 idempotency_key_reused. A malformed key: 400
invalid_idempotency_key, before anything moves.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock, iso_from_ms
from finance.market import Market
from tests.helpers.api import DAY_MS, Actor, Trio, deposit, fund, ledger_state, listed, refused, register, trio

START_MS = 1_900_000_000_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


@dataclass
class Operation:
    """One money-moving POST, ready to send: who sends it, where, with which body."""

    caller: Actor
    path: str
    body: Any  # None: no body
    other_body: Any  # a different acceptable body for the same path (None: the route takes no body)
    status: int = 200


async def send(client: Client, op: Operation, key: str | None, body: Any = None, caller: Actor | None = None,
               path: str | None = None) -> Any:
    headers = dict((caller or op.caller).headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    chosen = op.body if body is None else body
    if chosen is None:
        return await client.post(path or op.path, headers=headers)
    return await client.post(path or op.path, json=chosen, headers=headers)


def create_body(t: Trio, number: str) -> dict[str, Any]:
    return {"invoiceNumber": number, "buyerId": t.buyer.id, "amount": 500_000, "askAmount": 450_000,
            "dueDate": iso_from_ms(START_MS + 30 * DAY_MS)}


Setup = Callable[[Client, Trio], Awaitable[Operation]]


async def deposit_op(client: Client, t: Trio) -> Operation:
    return Operation(t.investor, "/api/wallet/deposit", {"amount": 1_000}, {"amount": 1_001})


async def withdraw_op(client: Client, t: Trio) -> Operation:
    return Operation(t.investor, "/api/wallet/withdraw", {"amount": 1_000}, {"amount": 1_001})


async def fund_op(client: Client, t: Trio) -> Operation:
    invoice = await listed(client, t)
    return Operation(t.investor, f"/api/invoices/{invoice['id']}/fund", {"amount": 460_000}, {"amount": 470_000})


async def create_op(client: Client, t: Trio) -> Operation:
    return Operation(t.seller, "/api/invoices/create", create_body(t, "INV-A"), create_body(t, "INV-B"), 201)


async def repay_op(client: Client, t: Trio) -> Operation:
    invoice = await listed(client, t)
    assert (await fund(client, t.investor, invoice["id"], 460_000)).status_code == 200
    await deposit(client, t.buyer, 1_000_000)
    return Operation(t.buyer, f"/api/invoices/{invoice['id']}/repay", None, None)


async def cancel_op(client: Client, t: Trio) -> Operation:
    invoice = await listed(client, t)
    return Operation(t.seller, f"/api/invoices/{invoice['id']}/cancel", None, None)


OPERATIONS: dict[str, Setup] = {"deposit": deposit_op, "withdraw": withdraw_op, "fund": fund_op,
                                "create": create_op, "repay": repay_op, "cancel": cancel_op}
WITH_BODY = ["deposit", "withdraw", "fund", "create"]


async def world(client: Client, t: Trio) -> tuple[Any, ...]:
    """Everything the operations could change: every party's money and transactions, and the invoices."""
    money = await ledger_state(client, t.seller, t.investor, t.buyer)
    page = await (await client.get("/api/invoices/seller", headers=t.seller.headers)).get_json()
    return money, [(row["id"], row["status"]) for row in page["invoices"]]


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_same_key_and_body_replays_the_first_result_and_moves_nothing(client: Client, name: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    op = await OPERATIONS[name](client, t)
    first = await send(client, op, "key-1")
    assert first.status_code == op.status, await first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    first_body = await first.get_data()
    after_first = await world(client, t)

    for _ in range(2):
        again = await send(client, op, "key-1")
        assert again.status_code == op.status
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert await again.get_data() == first_body
        assert await world(client, t) == after_first


@pytest.mark.parametrize("name", ["repay", "cancel"])
async def test_no_body_and_an_empty_object_are_the_same_body(client: Client, name: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    op = await OPERATIONS[name](client, t)
    first = await send(client, op, "key-1")
    assert first.status_code == 200
    after_first = await world(client, t)
    again = await send(client, op, "key-1", body={})
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (200, "true")
    assert await again.get_data() == await first.get_data()
    assert await world(client, t) == after_first


async def test_the_same_body_with_keys_reordered_and_respaced_is_a_replay(client: Client) -> None:
    t = await trio(client)
    body = create_body(t, "INV-R")
    headers = {**t.seller.headers, "Idempotency-Key": "k", "Content-Type": "application/json"}
    first = await client.post("/api/invoices/create", json=body, headers=headers)
    assert first.status_code == 201
    reordered = json.dumps(dict(reversed(body.items())), indent=3).encode()
    again = await client.post("/api/invoices/create", data=reordered, headers=headers)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
    assert await again.get_data() == await first.get_data()


async def test_an_amount_written_as_100_or_100_point_0_is_the_same_body(client: Client) -> None:
    t = await trio(client, investor_money=1_000)
    headers = {**t.investor.headers, "Idempotency-Key": "k", "Content-Type": "application/json"}
    first = await client.post("/api/wallet/deposit", data=b'{"amount": 100}', headers=headers)
    again = await client.post("/api/wallet/deposit", data=b'{"amount": 1.00e2}', headers=headers)
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (200, "true")
    assert await again.get_data() == await first.get_data()
    other = await client.post("/api/wallet/deposit", data=b'{"amount": 100.5}', headers=headers)
    await refused(other, 400, "invalid_request")
    assert (await (await client.get("/api/wallet", headers=t.investor.headers)).get_json())["balance"] == 1_100


@pytest.mark.parametrize("name", WITH_BODY)
async def test_same_key_with_another_body_is_422_idempotency_key_reused(client: Client, name: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    op = await OPERATIONS[name](client, t)
    assert (await send(client, op, "key-1")).status_code == op.status
    after_first = await world(client, t)
    await refused(await send(client, op, "key-1", body=op.other_body), 422, "idempotency_key_reused")
    assert await world(client, t) == after_first
    # the first body still replays
    assert (await send(client, op, "key-1")).headers.get("Idempotent-Replayed") == "true"


async def footprint(client: Client, actor: Actor) -> Any:
    """What an operation by ``actor`` leaves behind: money and transactions, and a seller's invoices."""
    if actor.role == "seller":
        page = await (await client.get("/api/invoices/seller", headers=actor.headers)).get_json()
        return [row["id"] for row in page["invoices"]]
    return await ledger_state(client, actor)


@pytest.mark.parametrize("name", ["deposit", "withdraw", "create"])
async def test_the_same_key_from_another_user_is_independent(client: Client, name: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    op = await OPERATIONS[name](client, t)
    other = await register(client, op.caller.role)
    await deposit(client, other, 1_000_000)
    before = [await footprint(client, op.caller), await footprint(client, other)]
    for caller in (op.caller, other):
        response = await send(client, op, "shared-key", caller=caller)
        assert response.status_code == op.status, await response.get_data(as_text=True)
        assert "Idempotent-Replayed" not in response.headers
    after = [await footprint(client, op.caller), await footprint(client, other)]
    assert after[0] != before[0] and after[1] != before[1]


async def test_the_same_key_from_another_investor_funds_nothing_twice(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    op = await fund_op(client, t)
    other = await register(client, "investor")
    await deposit(client, other, 1_000_000)
    before = await ledger_state(client, other)
    assert (await send(client, op, "shared-key")).status_code == 200
    # not a replay of the first investor's result: the invoice is taken
    await refused(await send(client, op, "shared-key", caller=other), 409, "invoice_not_listed")
    assert await ledger_state(client, other) == before


async def test_the_same_key_on_another_path_is_independent(client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    first_invoice, second_invoice = await listed(client, t), await listed(client, t)
    headers = {**t.investor.headers, "Idempotency-Key": "same"}
    responses = [
        await client.post("/api/wallet/deposit", json={"amount": 5_000}, headers=headers),
        await client.post("/api/wallet/withdraw", json={"amount": 5_000}, headers=headers),
        await client.post(f"/api/invoices/{first_invoice['id']}/fund", json={"amount": 460_000}, headers=headers),
        await client.post(f"/api/invoices/{second_invoice['id']}/fund", json={"amount": 460_000}, headers=headers),
    ]
    for response in responses:
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert "Idempotent-Replayed" not in response.headers
    [(money, entries)] = await ledger_state(client, t.investor)
    assert (money, len(entries)) == (1_000_000 - 2 * 460_000, 1 + 2 + 2)


BAD_KEYS = ["", " ", "k" * 256, "é", "ключ", "a b", "a\tb"]


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_malformed_key_is_400_invalid_idempotency_key_and_moves_nothing(client: Client, name: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    op = await OPERATIONS[name](client, t)
    before = await world(client, t)
    for key in BAD_KEYS:
        await refused(await send(client, op, key), 400, "invalid_idempotency_key")
    assert await world(client, t) == before
    response = await send(client, op, "k" * 255)
    assert response.status_code == op.status, await response.get_data(as_text=True)


async def test_a_listing_replays_even_once_its_due_date_has_passed(client: Client, clock: FixedClock) -> None:
    """The first result comes back for the key's whole life, whatever the clock says now."""
    t = await trio(client)
    body = {**create_body(t, "INV-SOON"), "dueDate": iso_from_ms(START_MS + 3_600_000)}
    headers = {**t.seller.headers, "Idempotency-Key": "soon"}
    first = await client.post("/api/invoices/create", json=body, headers=headers)
    assert first.status_code == 201
    clock.advance(2 * 3_600_000)
    again = await client.post("/api/invoices/create", json=body, headers=headers)
    assert again.status_code == 201, await again.get_data(as_text=True)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await again.get_data() == await first.get_data()


async def test_a_key_is_kept_for_24_hours(client: Client, market: Market) -> None:
    t = await trio(client)
    headers = {**t.investor.headers, "Idempotency-Key": "day"}
    assert (await client.post("/api/wallet/deposit", json={"amount": 1}, headers=headers)).status_code == 200
    key = market.keys.idempotency(t.investor.id, "POST", "/api/wallet/deposit", "day")
    assert 24 * 3600 - 60 <= await market.redis.ttl(key) <= 24 * 3600
