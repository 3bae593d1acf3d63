"""Randomized sequences of operations against a model: every response is the one the model predicts,
and after the sequence the balances equal the model's and the ledger check passes."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart

from app import create_app
from finance.books import ledger
from finance.market import Market
from tests.conftest import TEST_SETTINGS, Backend
from tests.helpers.api import Actor, balance, due_in_days, register

AMOUNT = st.integers(min_value=1, max_value=5_000)
OPERATION = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 5), AMOUNT),
    st.tuples(st.just("withdraw"), st.integers(0, 5), AMOUNT),
    st.tuples(st.just("create"), st.integers(0, 1), st.integers(0, 1), AMOUNT, st.integers(0, 100)),
    st.tuples(st.just("fund"), st.integers(0, 1), st.integers(0, 20), st.integers(0, 100)),
    st.tuples(st.just("repay"), st.integers(0, 1), st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 1), st.integers(0, 20)),
)


@dataclass
class ModelInvoice:
    id: str
    seller: int
    buyer: int
    amount: int
    ask: int
    status: str = "listed"
    investor: int | None = None


@dataclass
class Model:
    actors: list[Actor]  # 0-1 sellers, 2-3 investors, 4-5 buyers
    balances: dict[str, int] = field(default_factory=dict)
    invoices: list[ModelInvoice] = field(default_factory=list)

    def bal(self, index: int) -> int:
        return self.balances.get(self.actors[index].id, 0)

    def move(self, source: int | None, target: int | None, amount: int) -> None:
        if source is not None:
            self.balances[self.actors[source].id] = self.bal(source) - amount
        if target is not None:
            self.balances[self.actors[target].id] = self.bal(target) + amount


async def apply(client: Any, model: Model, op: tuple[Any, ...], serial: int) -> None:
    kind, *args = op
    a = model.actors
    if kind in ("deposit", "withdraw"):
        who, amount = args
        response = await client.post(f"/api/wallet/{kind}", json={"amount": amount}, headers=a[who].headers)
        if kind == "withdraw" and model.bal(who) < amount:
            assert response.status_code == 409
            return
        assert response.status_code == 200
        model.move(None, who, amount) if kind == "deposit" else model.move(who, None, amount)
    elif kind == "create":
        seller, buyer, amount, ask_percent = args
        ask = max(1, amount * ask_percent // 100)
        body = {"invoiceNumber": f"N{serial}", "buyerId": a[4 + buyer].id, "amount": amount, "askAmount": ask,
                "dueDate": due_in_days(365)}
        response = await client.post("/api/invoices/create", json=body, headers=a[seller].headers)
        assert response.status_code == 201
        invoice_id = (await response.get_json())["invoice"]["id"]
        model.invoices.append(ModelInvoice(invoice_id, seller, 4 + buyer, amount, ask))
    elif model.invoices:
        invoice = model.invoices[args[1] % len(model.invoices)]
        if kind == "fund":
            investor = 2 + args[0]
            amount = invoice.ask + (invoice.amount - invoice.ask) * args[2] // 100
            response = await client.post(f"/api/invoices/{invoice.id}/fund", json={"amount": amount},
                                         headers=a[investor].headers)
            ok = invoice.status == "listed" and model.bal(investor) >= amount
            assert response.status_code == (200 if ok else 409)
            if ok:
                invoice.status, invoice.investor = "funded", investor
                model.move(investor, invoice.seller, amount)
        elif kind == "repay":
            response = await client.post(f"/api/invoices/{invoice.id}/repay", headers=a[invoice.buyer].headers)
            ok = invoice.status == "funded" and model.bal(invoice.buyer) >= invoice.amount
            assert response.status_code == (200 if ok else 409)
            if ok:
                invoice.status = "repaid"
                model.move(invoice.buyer, invoice.investor, invoice.amount)
        else:
            response = await client.post(f"/api/invoices/{invoice.id}/cancel", headers=a[invoice.seller].headers)
            assert response.status_code == (200 if invoice.status == "listed" else 409)
            if invoice.status == "listed":
                invoice.status = "cancelled"


async def run_sequence(app: Quart, operations: list[tuple[Any, ...]]) -> None:
    async with app.test_app():
        client = app.test_client()
        roles = ["seller", "seller", "investor", "investor", "buyer", "buyer"]
        model = Model([await register(client, role) for role in roles])
        for serial, op in enumerate(operations):
            await apply(client, model, op, serial)
        for index, actor in enumerate(model.actors):
            assert await balance(client, actor) == model.bal(index)
        market: Market = app.extensions["market"]
        report = await ledger.check(market)
        assert report.ok, report.problems


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATION, min_size=1, max_size=40))
def test_random_operations_match_the_model_on_fakeredis(operations: list[tuple[Any, ...]]) -> None:
    app = create_app(TEST_SETTINGS, redis_server=fakeredis.FakeServer())
    asyncio.run(run_sequence(app, operations))


async def test_random_operations_match_the_model_on_real_redis(real_backend: Backend) -> None:
    rng = random.Random(20261124)
    operations: list[tuple[Any, ...]] = []
    for _ in range(300):
        kind = rng.choice(["deposit", "withdraw", "create", "fund", "fund", "repay", "cancel"])
        if kind in ("deposit", "withdraw"):
            operations.append((kind, rng.randrange(6), rng.randint(1, 5_000)))
        elif kind == "create":
            operations.append((kind, rng.randrange(2), rng.randrange(2), rng.randint(1, 5_000), rng.randrange(101)))
        elif kind == "fund":
            operations.append((kind, rng.randrange(2), rng.randrange(21), rng.randrange(101)))
        else:
            operations.append((kind, rng.randrange(2), rng.randrange(21)))
    await run_sequence(real_backend.app(), operations)
